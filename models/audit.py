"""The tamper-evident audit trail: every record's hash covers the previous
record's hash and the record's own canonical JSON."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlmodel.ext.asyncio.session import AsyncSession

from models.masking import masked
from models.tables import AuditEvent, utcnow

GENESIS_HASH = "0" * 64
SYSTEM_STREAM = "system"


def canonical_json(value) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def event_hash(
    prev_hash: str, stream: str, seq: int, event: str, actor: str, details: dict, at: datetime
) -> str:
    body = canonical_json(
        {
            "stream": stream,
            "seq": seq,
            "event": event,
            "actor": actor,
            "details": details,
            "at": at.isoformat(),
        }
    )
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


async def append_event(
    session: AsyncSession,
    *,
    stream: str,
    event: str,
    actor: str,
    details: dict,
    event_key: str,
) -> bool:
    """Append one record to `stream` in the caller's transaction, ID and phone
    numbers in `details` masked (`models.masking`).

    `event_key` makes a retried writer (an activity retry) a no-op; returns
    whether a record was written."""
    # Serialise writers of one stream so seq and prev_hash never fork.
    await session.exec(text("SELECT pg_advisory_xact_lock(hashtext(:s))").bindparams(s=stream))
    already = await session.exec(select(AuditEvent.id).where(AuditEvent.event_key == event_key))
    if already.first() is not None:
        return False
    last = (
        await session.exec(
            select(AuditEvent.seq, AuditEvent.hash)
            .where(AuditEvent.stream == stream)
            .order_by(AuditEvent.seq.desc())
            .limit(1)
        )
    ).first()
    seq, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS_HASH)
    at = utcnow()
    # No full ID or phone number enters the trail (a risk reason quoting a document, a
    # mismatch): the record holds the masked details, and its hash covers what it holds.
    details = masked(json.loads(canonical_json(details)))
    digest = event_hash(prev_hash, stream, seq, event, actor, details, at)
    await session.exec(
        insert(AuditEvent).values(
            stream=stream,
            seq=seq,
            event_key=event_key,
            event=event,
            actor=actor,
            details=details,
            prev_hash=prev_hash,
            hash=digest,
            created_at=at,
        )
    )
    return True


async def stream_length(session: AsyncSession, stream: str) -> int:
    result = await session.exec(select(func.count()).where(AuditEvent.stream == stream))
    return result.one()
