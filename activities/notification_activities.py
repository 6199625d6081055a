"""Customer and staff notification (SMS, e-mail) through the outbox."""

from __future__ import annotations

from dataclasses import dataclass

from temporalio import activity

from activities.adapters.email import SmtpMailer
from activities.adapters.sms import SmsGateway
from activities.errors import CASE_NOT_FOUND, NOT_CONFIGURED, business_error
from activities.outbox import Outbox, OutgoingMessage
from kernel.db import SessionFactory
from models.enums import NotificationChannel, SlaStage
from models.messages import render_message, render_staff_alert
from models.payloads import NotifyCustomerInput, NotifyResult, TaskSlaInput
from models.tables import Case


@dataclass(frozen=True)
class StaffAddresses:
    operators: str = "operators@jieya.local"
    seniors: str = "senior-queue@jieya.local"


class Messengers:
    """The channels, wrapped so the outbox can hand any message to them."""

    def __init__(self, sms: SmsGateway, mailer: SmtpMailer | None) -> None:
        self.sms = sms
        self.mailer = mailer

    async def deliver(self, message: OutgoingMessage) -> str:
        if message.channel == NotificationChannel.SMS:
            return await self.sms.send(message.recipient, message.body, message.dedupe_key)
        if self.mailer is None:
            # Retrying cannot conjure a mail server: a person decides (an incident).
            raise business_error(NOT_CONFIGURED, "no SMTP server is configured for e-mail")
        message_id = f"<{message.dedupe_key.replace(':', '.')}@jieya>"
        await self.mailer.send(message.recipient, message.subject, message.body, message_id)
        return message_id


class NotificationActivities:
    def __init__(
        self,
        sessions: SessionFactory,
        sms: SmsGateway,
        mailer: SmtpMailer | None,
        staff_addresses: StaffAddresses | None = None,
    ) -> None:
        self._sessions = sessions
        self._outbox = Outbox(sessions)
        self._messengers = Messengers(sms, mailer)
        self._staff = staff_addresses or StaffAddresses()

    @activity.defn
    async def notify_customer(self, request: NotifyCustomerInput) -> NotifyResult:
        """Tell the borrower about a milestone by SMS (and e-mail when we have one)."""
        async with self._sessions() as session:
            case = await session.get(Case, request.case_id)
        if case is None:
            raise business_error(CASE_NOT_FOUND, f"case {request.case_id} does not exist")
        subject, text = render_message(request.milestone, case.case_id, request.detail)
        channels = [(NotificationChannel.SMS, case.borrower_phone)]
        if case.borrower_email and self._messengers.mailer is not None:
            channels.append((NotificationChannel.EMAIL, case.borrower_email))
        messages = [
            OutgoingMessage(
                dedupe_key=f"{case.case_id}:{request.milestone.value}:{request.round}:{channel.value}",
                case_id=case.case_id,
                milestone=request.milestone.value,
                channel=channel.value,
                recipient=recipient,
                subject=subject,
                body=text,
            )
            for channel, recipient in channels
        ]
        return await self._send_all(messages)

    @activity.defn
    async def notify_staff(self, request: TaskSlaInput) -> NotifyResult:
        """E-mail the queue about a task nearing (or past) its deadline, or an incident."""
        # Past the deadline, and incidents, are the senior queue's.
        escalation = SlaStage.of(request.stage) != SlaStage.REMINDER
        subject, text = render_staff_alert(request)
        message = OutgoingMessage(
            dedupe_key=f"{request.task_id}:{request.stage}:email",
            case_id=request.case_id,
            milestone=f"task_{request.stage}",
            channel=NotificationChannel.EMAIL.value,
            recipient=self._staff.seniors if escalation else self._staff.operators,
            subject=subject,
            body=text,
        )
        if self._messengers.mailer is None:
            # The alert stays visible on the task and pending in the outbox.
            await self._outbox.record([message])
            activity.logger.warning("no SMTP configured; staff alert kept in the outbox")
            return NotifyResult(sent=[], skipped_duplicates=[])
        return await self._send_all([message])

    async def _send_all(self, messages: list[OutgoingMessage]) -> NotifyResult:
        await self._outbox.record(messages)
        sent, skipped = [], []
        for message in messages:
            went = await self._outbox.send(message, self._messengers.deliver)
            (sent if went else skipped).append(message.dedupe_key)
            activity.logger.info(
                "notification sent" if went else "notification already sent",
                extra={"key": message.dedupe_key, "to": message.recipient},
            )
        return NotifyResult(sent=sent, skipped_duplicates=skipped)
