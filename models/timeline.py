"""A case's timeline for people: what happened, who did it, what they decided and
said, how often the machine had to retry, and how long each step took.

Built from the Temporal history (the record replay checks) and linked to the
audit trail by event key, so one row shows both that the workflow did a step
and which hash-chained audit record says so. The CLI (`jieya replay`), the
export and `GET /cases/{id}/history` all use this one builder."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel

from models.history_events import ParsedHistory, SignalIn, parse_history
from models.timeline_rows import (
    POLLING,
    EntryKind,
    TimelineEntry,
    activity_entry,
    carried_entries,
    signal_entry,
)

__all__ = ["EntryKind", "Timeline", "TimelineEntry", "build_timeline"]


class Timeline(BaseModel):
    workflow_type: str | None = None
    outcome: str | None = None  # completed | failed | … | running; None: no history
    status: str | None = None  # the case status the workflow ended with
    started_at: datetime | None = None
    closed_at: datetime | None = None
    history_events: int = 0
    activity_retries: int = 0
    entries: list[TimelineEntry]


class AuditRecord(Protocol):
    seq: int
    event_key: str
    event: str
    actor: str
    details: dict
    hash: str
    created_at: datetime


def _from_history(parsed: ParsedHistory) -> tuple[list[TimelineEntry], dict[str, TimelineEntry]]:
    started = parsed.input if isinstance(parsed.input, dict) else {}
    entries = [
        TimelineEntry(
            at=parsed.started_at,
            kind=EntryKind.STARTED,
            what=f"case {started.get('case_id')} for contract {started.get('loan_contract_no')}",
            actor=started.get("opened_by"),
            event_id=1,
        )
    ]
    by_key: dict[str, TimelineEntry] = {}
    for item in parsed.items:
        if isinstance(item, SignalIn):
            entries.append(signal_entry(item))
            continue
        for made in [*carried_entries(item), activity_entry(item)]:
            if made is None or (made[1] and made[1] in by_key):
                continue  # several activities may carry the same record: one row
            entries.append(made[0])
            if made[1]:
                by_key[made[1]] = made[0]
    closing = parsed.closing
    if closing is not None:
        result = closing.result if isinstance(closing.result, dict) else {}
        entries.append(
            TimelineEntry(
                at=closing.at,
                kind=EntryKind.CLOSED,
                what=f"workflow {closing.outcome}"
                + (f" · {result.get('status')} ({result.get('step')})" if result else ""),
                status=result.get("status"),
                step=result.get("step"),
                failure=closing.failure,
                event_id=closing.event_id,
            )
        )
    return entries, by_key


def _durations(entries: list[TimelineEntry]) -> None:
    timed = [e for e in entries if e.event_id is not None]
    for before, after in zip(timed, timed[1:], strict=False):
        after.since_previous_s = max((after.at - before.at).total_seconds(), 0.0)
    marks = [e for e in timed if e.kind in (EntryKind.STEP, EntryKind.CLOSED)]
    for step, following in zip(marks, marks[1:], strict=False):
        # The closing status lasts forever; only the steps before it took time.
        if step.kind == EntryKind.STEP and following.kind != EntryKind.CLOSED:
            step.step_duration_s = max((following.at - step.at).total_seconds(), 0.0)


def _audit_entry(record: AuditRecord) -> TimelineEntry:
    details = {k: v for k, v in (record.details or {}).items() if v not in ("", None, [], {})}
    return TimelineEntry(
        at=record.created_at,
        kind=EntryKind.AUDIT,
        what=record.event
        + (" " + ", ".join(f"{k}={v}" for k, v in details.items()) if details else ""),
        actor=record.actor,
        comment=details.get("comment"),
        audit_seq=record.seq,
        audit_hash=record.hash,
    )


def _merge_audit(
    entries: list[TimelineEntry], audit: Sequence[AuditRecord], by_key
) -> list[TimelineEntry]:
    """Link audit records to history rows by event key; place the rest by seq,
    right after the linked row before them (the two clocks may disagree, seqs never)."""
    unlinked = []
    for record in audit:
        linked = by_key.get(record.event_key)
        if linked is not None:
            linked.audit_seq, linked.audit_hash = record.seq, record.hash
        else:
            unlinked.append(record)
    merged: list[TimelineEntry] = []
    pending = sorted(unlinked, key=lambda r: r.seq)
    for entry in entries:
        while pending and entry.audit_seq is not None and pending[0].seq < entry.audit_seq:
            merged.append(_audit_entry(pending.pop(0)))
        merged.append(entry)
    merged.extend(_audit_entry(r) for r in pending)
    return merged


def build_timeline(history: dict[str, Any] | None, audit: Sequence[AuditRecord] = ()) -> Timeline:
    """`history` in proto-JSON form (None when no copy survives); `audit` in seq order."""
    if history is None:
        return Timeline(entries=[_audit_entry(r) for r in sorted(audit, key=lambda r: r.seq)])
    parsed = parse_history(history)
    entries, by_key = _from_history(parsed)
    _durations(entries)
    closing = parsed.closing
    result = closing.result if closing and isinstance(closing.result, dict) else {}
    return Timeline(
        workflow_type=parsed.workflow_type,
        outcome=closing.outcome if closing else "running",
        status=result.get("status"),
        started_at=parsed.started_at,
        closed_at=closing.at if closing else None,
        history_events=parsed.events,
        activity_retries=sum(
            max(run.attempts - 1, 0) for run in parsed.activities if run.name not in POLLING
        ),
        entries=_merge_audit(entries, audit, by_key),
    )
