"""The timeline people read, built from the committed histories: who decided
what with which comment, how long each step took, what was retried, and which
audit record backs each row."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from kernel.case_history import from_file
from kernel.codec import decrypt_json
from models.history_events import attributes, event_kind, parse_history
from models.timeline import EntryKind, build_timeline
from tests.conftest import TEST_KEYS

HISTORIES = Path(__file__).resolve().parent / "histories"


def readable(name: str) -> dict:
    """A committed history as a person reads it: its payloads decrypted."""
    return decrypt_json(from_file(HISTORIES / f"{name}.json").as_dict(), TEST_KEYS)


def timeline_of(name: str, audit=()):
    return build_timeline(readable(name), audit)


def rows(timeline, kind: EntryKind):
    return [e for e in timeline.entries if e.kind == kind]


def test_four_eyes_shows_both_approvers_with_their_comments():
    timeline = timeline_of("four_eyes")
    decisions = rows(timeline, EntryKind.DECISION)
    assert [(d.actor, d.decision, d.comment) for d in decisions] == [
        ("dave (operator)", "approve", "初审通过"),
        ("bob (senior)", "approve", "复核通过"),
    ]
    assert timeline.status == "COMPLETED" and timeline.entries[-1].kind == EntryKind.CLOSED


def test_request_documents_shows_the_request_the_new_upload_and_the_second_round():
    timeline = timeline_of("request_documents")
    first, second = rows(timeline, EntryKind.DECISION)
    assert first.decision == "request_documents" and "id_card" in first.what
    assert first.comment == "照片模糊" and second.decision == "approve"
    uploads = [d.what for d in rows(timeline, EntryKind.DOCUMENT)]
    assert len(uploads) == 4 and uploads[-1].startswith("id_card")
    assert len([t for t in rows(timeline, EntryKind.TASK) if "opened" in t.what]) == 2


def test_registry_rejection_shows_the_registrys_reason_before_the_follow_up():
    timeline = timeline_of("registry_rejection")
    rejected = next(r for r in rows(timeline, EntryKind.REGISTRY) if "REJECTED" in r.what)
    follow_up = rows(timeline, EntryKind.DECISION)[-1]
    assert timeline.entries.index(rejected) < timeline.entries.index(follow_up)
    assert "registry_follow_up" in follow_up.what and follow_up.decision == "reject"
    assert timeline.status == "REJECTED"


def test_sla_escalation_shows_the_long_wait_the_reminder_and_the_escalation():
    timeline = timeline_of("sla_escalation")
    waiting = next(s for s in rows(timeline, EntryKind.STEP) if s.step == "awaiting_approval")
    assert waiting.step_duration_s >= 24 * 3600
    sla = [t.what for t in rows(timeline, EntryKind.TASK) if "SLA" in t.what]
    assert any("reminder" in w for w in sla) and any("escalation" in w for w in sla)


def test_a_retried_activity_shows_its_attempts():
    history = copy.deepcopy(readable("happy"))
    started = next(e for e in history["events"] if event_kind(e) == "ActivityTaskStarted")
    attributes(started)["attempt"] = 3
    timeline = build_timeline(history)
    assert timeline.activity_retries == 2
    scheduled = int(attributes(started)["scheduledEventId"])
    retried = [e for e in timeline.entries if e.attempts == 3]
    assert len(retried) == 1 and retried[0].event_id > scheduled


@dataclass
class Record:
    seq: int
    event_key: str
    event: str
    actor: str
    details: dict
    hash: str
    created_at: datetime


def test_audit_records_link_to_their_rows_and_the_others_fall_in_seq_order():
    history = readable("happy")
    # Since incidents, status records ride with the steps' own activities.
    carried = {
        record["event_key"]: record
        for run in parse_history(history).activities
        if isinstance(run.input, dict)
        for record in run.input.get("records", [])
        if record.get("event")
    }
    transitions = list(carried.values())
    opened = Record(1, "api:opened", "case.opened", "alice", {}, "a" * 64, datetime.now())
    audit = [opened] + [
        Record(i + 2, t["event_key"], t["event"], t["actor"], {}, f"{i:064d}", datetime.now())
        for i, t in enumerate(transitions)
    ]
    timeline = build_timeline(history, audit)
    linked = [e for e in timeline.entries if e.audit_seq is not None and e.kind != EntryKind.AUDIT]
    assert [e.audit_seq for e in linked] == list(range(2, len(transitions) + 2))
    only_audit = rows(timeline, EntryKind.AUDIT)
    assert [e.what for e in only_audit] == ["case.opened"] and only_audit[0].actor == "alice"
    assert timeline.entries.index(only_audit[0]) < timeline.entries.index(linked[0])


def test_without_a_history_the_audit_trail_alone_is_the_timeline():
    record = Record(1, "k", "case.opened", "alice", {"comment": "急"}, "b" * 64, datetime.now())
    timeline = build_timeline(None, [record])
    assert timeline.outcome is None and timeline.entries[0].comment == "急"


def test_a_registry_wait_the_callback_cut_short_is_not_a_failure() -> None:
    from models.history_events import ActivityRun
    from models.timeline_rows import activity_entry

    at = datetime(2026, 12, 2, 10, 0)
    run = ActivityRun(
        event_id=40,
        name="await_deregistration",
        input={"idempotency_key": "RC-1-dereg-1"},
        scheduled_at=at,
        attempts=1,
        outcome="canceled",
        closed_at=at,
    )
    entry, _key = activity_entry(run)
    assert entry.failure is None
    assert entry.what == "stopped polling RC-1-dereg-1: the callback answered"
    failed = activity_entry(
        ActivityRun(**{**run.__dict__, "name": "submit_deregistration", "outcome": "failed"})
    )[0]
    assert failed.failure == "failed"
