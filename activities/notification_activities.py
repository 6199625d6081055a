"""Customer notification through an outbox, so a retried activity never sends twice."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from temporalio import activity

from activities.adapters.email import SmtpMailer
from activities.adapters.sms import SmsGateway
from activities.errors import CASE_NOT_FOUND, business_error
from kernel.db import SessionFactory
from models.enums import NotificationChannel
from models.messages import render_message, render_staff_alert
from models.payloads import NotifyCustomerInput, NotifyResult, TaskSlaInput
from models.tables import Case, Notification, utcnow


@dataclass(frozen=True)
class StaffAddresses:
    operators: str = "operators@jieya.local"
    seniors: str = "senior-queue@jieya.local"


class NotificationActivities:
    def __init__(
        self,
        sessions: SessionFactory,
        sms: SmsGateway,
        mailer: SmtpMailer | None,
        staff_addresses: StaffAddresses | None = None,
    ) -> None:
        self._sessions = sessions
        self._sms = sms
        self._mailer = mailer
        self._staff = staff_addresses or StaffAddresses()

    @activity.defn
    async def notify_customer(self, request: NotifyCustomerInput) -> NotifyResult:
        """Tell the borrower about a milestone by SMS (and e-mail when we have one)."""
        async with self._sessions() as session, session.begin():
            case = await session.get(Case, request.case_id)
            if case is None:
                raise business_error(CASE_NOT_FOUND, f"case {request.case_id} does not exist")
            subject, text = render_message(request.milestone, case.case_id, request.detail)
            channels = [(NotificationChannel.SMS, case.borrower_phone)]
            if case.borrower_email and self._mailer is not None:
                channels.append((NotificationChannel.EMAIL, case.borrower_email))
            for channel, recipient in channels:
                await session.exec(
                    insert(Notification)
                    .values(
                        dedupe_key=_dedupe_key(request, channel),
                        case_id=case.case_id,
                        milestone=request.milestone.value,
                        channel=channel.value,
                        recipient=recipient,
                        body=text,
                        status="pending",
                        attempts=0,
                        created_at=utcnow(),
                    )
                    .on_conflict_do_nothing(index_elements=["dedupe_key"])
                )
        keys = [_dedupe_key(request, channel) for channel, _ in channels]
        async with self._sessions() as session:
            rows = (
                (await session.exec(select(Notification).where(Notification.dedupe_key.in_(keys))))
                .scalars()
                .all()
            )
        sent, skipped = [], []
        for row in rows:
            if row.status == "sent":
                skipped.append(row.dedupe_key)
                continue
            # The gateway deduplicates on our key too, so a crash between the
            # send and the status update below still means one message.
            provider_ref = await self._deliver(row, subject)
            async with self._sessions() as session, session.begin():
                await session.exec(
                    update(Notification)
                    .where(Notification.id == row.id)
                    .values(
                        status="sent",
                        provider_ref=provider_ref,
                        attempts=Notification.attempts + 1,
                        sent_at=utcnow(),
                    )
                )
            sent.append(row.dedupe_key)
        return NotifyResult(sent=sent, skipped_duplicates=skipped)

    @activity.defn
    async def notify_staff(self, request: TaskSlaInput) -> NotifyResult:
        """E-mail the queue about a task nearing (or past) its deadline."""
        escalation = request.stage == "escalation"
        recipient = self._staff.seniors if escalation else self._staff.operators
        subject, text = render_staff_alert(request)
        key = f"{request.task_id}:{request.stage}:email"
        async with self._sessions() as session, session.begin():
            await session.exec(
                insert(Notification)
                .values(
                    dedupe_key=key,
                    case_id=request.case_id,
                    milestone=f"task_{request.stage}",
                    channel=NotificationChannel.EMAIL.value,
                    recipient=recipient,
                    body=text,
                    status="pending",
                    attempts=0,
                    created_at=utcnow(),
                )
                .on_conflict_do_nothing(index_elements=["dedupe_key"])
            )
            row = (
                await session.exec(select(Notification).where(Notification.dedupe_key == key))
            ).scalar_one()
        if row.status == "sent":
            return NotifyResult(sent=[], skipped_duplicates=[key])
        if self._mailer is None:
            # No mail server configured: the alert stays visible on the task and
            # in the outbox as `pending`, and is not silently dropped.
            activity.logger.warning(
                "no SMTP configured; staff alert kept in outbox", extra={"key": key}
            )
            return NotifyResult(sent=[], skipped_duplicates=[])
        provider_ref = await self._deliver(row, subject)
        async with self._sessions() as session, session.begin():
            await session.exec(
                update(Notification)
                .where(Notification.id == row.id)
                .values(
                    status="sent",
                    provider_ref=provider_ref,
                    attempts=Notification.attempts + 1,
                    sent_at=utcnow(),
                )
            )
        return NotifyResult(sent=[key], skipped_duplicates=[])

    async def _deliver(self, row: Notification, subject: str) -> str:
        if row.channel == NotificationChannel.SMS:
            return await self._sms.send(row.recipient, row.body, row.dedupe_key)
        message_id = f"<{row.dedupe_key.replace(':', '.')}@jieya>"
        await self._mailer.send(row.recipient, subject, row.body, message_id)
        return message_id


def _dedupe_key(request: NotifyCustomerInput, channel: NotificationChannel) -> str:
    return f"{request.case_id}:{request.milestone.value}:{request.round}:{channel.value}"
