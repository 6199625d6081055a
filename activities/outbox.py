"""The notification outbox: a row exists before a message leaves, and its key
travels with the message, so a retried activity never sends twice."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert

from activities.adapters.errors import PermanentExternalError
from activities.errors import NOT_CONFIGURED
from kernel.db import SessionFactory
from models.enums import NotificationChannel, OutboxStatus
from models.tables import Notification, utcnow

# Kept for importers that predate OutboxStatus (activities/reconcile_activities.py).
SENT, PENDING, FAILED = OutboxStatus.SENT, OutboxStatus.PENDING, OutboxStatus.FAILED


@dataclass(frozen=True)
class OutgoingMessage:
    dedupe_key: str
    case_id: str
    milestone: str
    channel: NotificationChannel
    recipient: str
    subject: str
    body: str


def from_row(row: Notification) -> OutgoingMessage:
    """The message an outbox row holds, to send it again under the same key."""
    return OutgoingMessage(
        dedupe_key=row.dedupe_key,
        case_id=row.case_id,
        milestone=row.milestone,
        channel=NotificationChannel(row.channel),
        recipient=row.recipient,
        subject=row.subject or "",
        body=row.body,
    )


# Sends one message, given its outbox key (the provider's idempotency key);
# returns the provider's reference.
Deliver = Callable[[OutgoingMessage], Awaitable[str]]


class Outbox:
    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    async def record(self, messages: list[OutgoingMessage]) -> None:
        async with self._sessions() as session, session.begin():
            for message in messages:
                await session.exec(
                    insert(Notification)
                    .values(
                        dedupe_key=message.dedupe_key,
                        case_id=message.case_id,
                        milestone=message.milestone,
                        channel=message.channel,
                        recipient=message.recipient,
                        subject=message.subject[:200] or None,
                        body=message.body,
                        status=OutboxStatus.PENDING,
                        attempts=0,
                        created_at=utcnow(),
                    )
                    .on_conflict_do_nothing(index_elements=["dedupe_key"])
                )

    async def send(self, message: OutgoingMessage, deliver: Deliver) -> bool:
        """Deliver unless already sent; returns whether it went out now."""
        async with self._sessions() as session:
            row = (
                await session.exec(
                    select(Notification).where(Notification.dedupe_key == message.dedupe_key)
                )
            ).scalar_one()
        if row.status == OutboxStatus.SENT:
            return False
        # The provider deduplicates on our key too, so a crash between the
        # delivery and the status update below still means one message.
        try:
            provider_ref = await deliver(message)
        except Exception as error:
            # Remembered on the row: the reconciler resends only rows nobody is
            # trying, and never one the provider refused for good.
            refused = isinstance(error, PermanentExternalError) or _not_configured(error)
            status = OutboxStatus.FAILED if refused else OutboxStatus.PENDING
            await self._attempted(row.id, status, error)
            raise
        async with self._sessions() as session, session.begin():
            await session.exec(
                update(Notification)
                .where(Notification.id == row.id)
                .values(
                    status=OutboxStatus.SENT,
                    provider_ref=provider_ref,
                    attempts=Notification.attempts + 1,
                    last_attempt_at=utcnow(),
                    last_error=None,
                    sent_at=utcnow(),
                )
            )
        return True

    async def _attempted(self, row_id: int, status: OutboxStatus, error: Exception) -> None:
        async with self._sessions() as session, session.begin():
            await session.exec(
                update(Notification)
                .where(Notification.id == row_id, Notification.status != OutboxStatus.SENT)
                .values(
                    status=status,
                    attempts=Notification.attempts + 1,
                    last_attempt_at=utcnow(),
                    last_error=f"{type(error).__name__}: {error}"[:500],
                )
            )


def _not_configured(error: Exception) -> bool:
    return getattr(error, "type", None) == NOT_CONFIGURED
