"""Checking the audit trail: recompute every record's hash and every link, and
name the first record of a stream that was altered, removed or reordered."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel
from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.audit import GENESIS_HASH, event_hash
from models.audit_heads import AuditHead
from models.tables import AuditEvent


class BreakKind(StrEnum):
    ALTERED = "altered"
    REMOVED = "removed"
    REORDERED = "reordered"


class ChainBreak(BaseModel):
    """The first bad record of one stream. `record_id` is the row that shows the
    damage (for a removed tail: the id the chain head remembers)."""

    stream: str
    seq: int
    record_id: int | None
    kind: BreakKind
    reason: str


class ChainReport(BaseModel):
    ok: bool
    streams: int
    records: int
    breaks: list[ChainBreak]
    checked_at: datetime


def _break(record: AuditEvent, kind: BreakKind, reason: str) -> ChainBreak:
    return ChainBreak(
        stream=record.stream, seq=record.seq, record_id=record.id, kind=kind, reason=reason
    )


def recompute(record: AuditEvent) -> str:
    return event_hash(
        record.prev_hash,
        record.stream,
        record.seq,
        record.event,
        record.actor,
        record.details,
        record.created_at,
    )


def verify_stream(
    stream: str, records: Sequence[AuditEvent], head: AuditHead | None
) -> ChainBreak | None:
    """`records` in seq order; `head` is the stream's chain head (None: none kept)."""
    # Writers of one stream are serialised and take their id after the lock,
    # so ids grow with seq; a record out of id order was moved or slipped in.
    ids_in_order = sorted(r.id for r in records)
    hashes = {r.hash: r for r in records}
    previous: AuditEvent | None = None
    for position, record in enumerate(records):
        expected_seq = position + 1
        if record.seq != expected_seq:
            missing = f"seq {expected_seq}" + (
                f"..{record.seq - 1}" if record.seq - 1 > expected_seq else ""
            )
            return _break(record, BreakKind.REMOVED, f"{missing} missing before this record")
        if record.id != ids_in_order[position]:
            return _break(
                record,
                BreakKind.REORDERED,
                f"record id {record.id} sits at seq {record.seq} but was written after "
                f"record id {ids_in_order[position]}",
            )
        if recompute(record) != record.hash:
            return _break(record, BreakKind.ALTERED, "contents do not match the record's hash")
        expected_prev = previous.hash if previous else GENESIS_HASH
        if record.prev_hash != expected_prev:
            linked = hashes.get(record.prev_hash)
            if linked is not None:
                return _break(
                    record,
                    BreakKind.REORDERED,
                    f"prev_hash links to seq {linked.seq}, not to seq {record.seq - 1}",
                )
            before = f"seq {record.seq - 1}" if previous else "the start of the stream"
            return _break(
                record,
                BreakKind.REMOVED,
                f"prev_hash does not link to {before}: the record it followed was removed or replaced",
            )
        previous = record
    return _check_head(stream, previous, head)


def _check_head(stream: str, last: AuditEvent | None, head: AuditHead | None) -> ChainBreak | None:
    if head is None:
        if last is None:
            return None
        return _break(last, BreakKind.REMOVED, "the stream's chain head is missing")
    if last is None or last.seq < head.seq:
        first_missing = last.seq + 1 if last else 1
        span = f"seq {first_missing}" + (f"..{head.seq}" if head.seq > first_missing else "")
        return ChainBreak(
            stream=stream,
            seq=head.seq,
            record_id=head.event_id,
            kind=BreakKind.REMOVED,
            reason=f"{span} missing at the end: the chain head says the stream ends at seq {head.seq}",
        )
    if last.seq > head.seq:
        return _break(
            last,
            BreakKind.ALTERED,
            f"the chain head ends at seq {head.seq}: records after it were added behind the database's back",
        )
    if last.hash != head.hash:
        return _break(last, BreakKind.ALTERED, "the record's hash differs from the chain head's")
    return None


async def verify_chains(session: AsyncSession, stream: str | None = None) -> ChainReport:
    """Verify one stream (a case id, or `system`) or every stream, one stream in
    memory at a time. Give it a fresh session: it takes its own snapshot."""
    # One snapshot for records and heads, so an append racing with us is
    # either wholly seen or not at all (no false "head ahead of records").
    await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    heads_query = select(AuditHead)
    records_query = select(AuditEvent).order_by(AuditEvent.stream, AuditEvent.seq)
    if stream is not None:
        heads_query = heads_query.where(AuditHead.stream == stream)
        records_query = records_query.where(AuditEvent.stream == stream)
    heads = {h.stream: h for h in (await session.exec(heads_query)).scalars()}
    breaks: list[ChainBreak] = []
    seen = records = 0
    current: list[AuditEvent] = []

    def close_stream() -> None:
        nonlocal seen
        name = current[0].stream
        found = verify_stream(name, current, heads.pop(name, None))
        if found is not None:
            breaks.append(found)
        seen += 1
        current.clear()

    rows = await session.stream(records_query.execution_options(yield_per=1000))
    async for record in rows.scalars():
        if current and current[0].stream != record.stream:
            close_stream()
        current.append(record)
        records += 1
    if current:
        close_stream()
    # Heads whose stream has no record left at all.
    for name, head in sorted(heads.items()):
        breaks.append(verify_stream(name, [], head))
        seen += 1
    await session.rollback()
    return ChainReport(
        ok=not breaks,
        streams=seen,
        records=records,
        breaks=sorted(breaks, key=lambda b: b.stream),
        checked_at=datetime.now(UTC),
    )
