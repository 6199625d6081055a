"""The notification outbox: a row exists before a message leaves, and its key
travels with the message, so a retried activity never sends twice."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert

from kernel.db import SessionFactory
from models.tables import Notification, utcnow


@dataclass(frozen=True)
class OutgoingMessage:
    dedupe_key: str
    case_id: str
    milestone: str
    channel: str
    recipient: str
    subject: str
    body: str


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
                        body=message.body,
                        status="pending",
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
        if row.status == "sent":
            return False
        # The provider deduplicates on our key too, so a crash between the
        # delivery and the status update below still means one message.
        provider_ref = await deliver(message)
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
        return True
