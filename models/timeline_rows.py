"""One timeline row per thing a person would want to see, described from the
activity that did it: its input says what was asked, its result what came back,
its history events how many tries it took and how long."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel

from models.enums import RegistryOutcome
from models.history_events import ActivityRun, SignalIn


class EntryKind(StrEnum):
    STARTED = "started"
    STEP = "step"  # the case entered a status/step
    EVENT = "event"  # something the workflow noted (repayment verified, review done, …)
    DOCUMENT = "document"
    OCR = "ocr"
    TASK = "task"
    DECISION = "decision"
    REGISTRY = "registry"
    NOTICE = "notice"  # a message to the customer or staff
    ACTIVITY = "activity"  # any other activity
    SIGNAL = "signal"
    AUDIT = "audit"  # an audit record the history does not show (e.g. written by the API)
    CLOSED = "closed"


class TimelineEntry(BaseModel):
    at: datetime
    kind: EntryKind
    what: str
    event_id: int | None = None  # history event; None for audit-only rows
    status: str | None = None
    step: str | None = None
    actor: str | None = None
    decision: str | None = None
    comment: str | None = None
    attempts: int | None = None  # activity rows: how many tries it took
    took_s: float | None = None  # activity rows: scheduled → done
    failure: str | None = None
    since_previous_s: float | None = None  # history rows: since the previous history row
    step_duration_s: float | None = None  # step rows: until the next step or the end
    audit_seq: int | None = None
    audit_hash: str | None = None


def _input(run: ActivityRun) -> dict:
    return run.input if isinstance(run.input, dict) else {}


def _result(run: ActivityRun) -> dict:
    return run.result if isinstance(run.result, dict) else {}


def _transition(run: ActivityRun) -> dict:
    return _step_row(_input(run))


def _step_row(step: dict) -> dict:
    is_status = str(step.get("event", "")).startswith("status.")
    details = {k: v for k, v in (step.get("details") or {}).items() if v not in ("", None, [], {})}
    what = f"{step.get('status')} · {step.get('step')}" if is_status else step.get("event", "")
    if details and not is_status:
        what += " " + ", ".join(f"{k}={v}" for k, v in details.items())
    return {
        "kind": EntryKind.STEP if is_status else EntryKind.EVENT,
        "what": what,
        "status": step.get("status"),
        "step": step.get("step"),
        "actor": step.get("actor"),
        "key": step.get("event_key"),
    }


def _decision(run: ActivityRun) -> dict:
    given, request = _input(run), _input(run).get("request") or {}
    documents = ", ".join(request.get("documents") or [])
    return {
        "kind": EntryKind.DECISION,
        "what": f"{request.get('decision')} on {given.get('task_id')}"
        + (f" (documents: {documents})" if documents else ""),
        "actor": f"{request.get('actor')} ({request.get('role')})",
        "decision": request.get("decision"),
        "comment": request.get("comment") or None,
        "key": f"{given.get('decision_ref')}:recorded",
    }


def _task(run: ActivityRun) -> dict:
    task_id = _result(run).get("task_id") or _input(run).get("task_id")
    due = _result(run).get("due_at") or _input(run).get("due_at")
    kind = _input(run).get("kind")
    return {
        "kind": EntryKind.TASK,
        "what": f"{kind} task {task_id} opened" + (f", due {due}" if due else ""),
        "key": f"{task_id}:opened",
    }


def _sla(run: ActivityRun) -> dict:
    given = _input(run)
    stage = given.get("stage")
    return {
        "kind": EntryKind.TASK,
        "what": f"{given.get('kind')} task {given.get('task_id')}: SLA {stage}"
        + (f" (due {given['due_at']})" if given.get("due_at") else ""),
        "actor": "sla",
        "key": f"{given.get('task_id')}:{stage}",
    }


def _guarantor(run: ActivityRun) -> dict | None:
    release = _result(run)
    if not release.get("needed") and run.attempts <= 1 and run.outcome == "completed":
        return None  # no guarantor on the loan: nothing happened
    done = "confirmed" if release.get("confirmed") else "NOT confirmed (a person must)"
    return {
        "kind": EntryKind.NOTICE,
        "what": f"guarantor {release.get('guarantor')} release {done}",
    }


def _ocr(run: ActivityRun) -> dict:
    review = _result(run)
    issues = "; ".join(review.get("issues") or [])
    verdict = "needs review" if review.get("needs_review") else "read cleanly"
    return {
        "kind": EntryKind.OCR,
        "what": f"{review.get('doc_type')} {verdict}" + (f": {issues}" if issues else ""),
    }


# Activities whose attempts are polls (the retry policy asks again while the
# answer is "not yet"), not retries after failures.
POLLING = frozenset({"await_deregistration"})


def _registry(run: ActivityRun) -> dict | None:
    result = _result(run)
    if run.outcome == "canceled" and run.name in POLLING:
        # The case stops waiting on the registry's answer once the signed callback
        # brought it: not a failure, and the callback has its own row.
        key = _input(run).get("idempotency_key")
        return {"kind": EntryKind.REGISTRY, "what": f"stopped polling {key}: the callback answered"}
    # Polls that only say "still pending" are noise unless they needed retries.
    if run.name == "check_deregistration" and result.get("outcome") == RegistryOutcome.PENDING:
        if run.attempts <= 1 and run.outcome == "completed":
            return None
    reason = f": {result['reason']}" if result.get("reason") else ""
    verb = {"submit_deregistration": "submitted", "await_deregistration": "answered"}.get(
        run.name, "checked"
    )
    if run.name in POLLING and run.attempts > 1:
        verb += f" after {run.attempts} polls"
    return {
        "kind": EntryKind.REGISTRY,
        "what": f"{verb} {_input(run).get('idempotency_key')} → {result.get('outcome')}{reason}",
    }


def _notice(run: ActivityRun) -> dict:
    given = _input(run)
    about = given.get("milestone") or given.get("stage") or ""
    return {"kind": EntryKind.NOTICE, "what": f"{run.name} {about}".strip()}


def _quiet(run: ActivityRun) -> dict | None:
    # Bookkeeping whose effect other rows already show; listed only when it struggled.
    if run.attempts <= 1 and run.outcome == "completed":
        return None
    return {"kind": EntryKind.ACTIVITY, "what": run.name}


DESCRIBE: dict[str, Callable[[ActivityRun], dict | None]] = {
    "record_transition": _transition,
    "record_decision": _decision,
    "open_task": _task,
    "review_document": _ocr,
    "submit_deregistration": _registry,
    "check_deregistration": _registry,
    "await_deregistration": _registry,
    "notify_customer": _notice,
    "notify_staff": _notice,
    "mark_task_sla": _sla,
    "confirm_guarantor_release": _guarantor,
    "close_task": _quiet,
    # Its records are rows of their own (`carried_entries`).
    "record_transitions": lambda run: None,
    "verify_repayment": _quiet,
    "assess_risk": _quiet,
}


def activity_entry(run: ActivityRun) -> tuple[TimelineEntry, str | None] | None:
    described = DESCRIBE.get(run.name, lambda r: {"kind": EntryKind.ACTIVITY, "what": r.name})(run)
    if described is None:
        return None
    key = described.pop("key", None)
    settled = (
        ("completed", "running")
        if run.name not in POLLING
        else ("completed", "running", "canceled")
    )
    failure = run.failure or (None if run.outcome in settled else run.outcome)
    took = (run.closed_at - run.scheduled_at).total_seconds() if run.closed_at else None
    entry = TimelineEntry(
        at=run.closed_at or run.scheduled_at,
        event_id=run.closed_event_id or run.event_id,
        attempts=run.attempts or None,
        took_s=took,
        failure=failure,
        **described,
    )
    return entry, key


def carried_entries(run: ActivityRun) -> list[tuple[TimelineEntry, str | None]]:
    """The bookkeeping an activity carried (since incidents, records ride with the
    step's own activity): one row per audit record, at the activity's time."""
    records = _input(run).get("records")
    rows = []
    for record in records if isinstance(records, list) else []:
        if not isinstance(record, dict) or not record.get("event"):
            continue  # a row-only move within a status: no audit record, no row
        described = _step_row(record)
        key = described.pop("key", None)
        entry = TimelineEntry(
            at=run.closed_at or run.scheduled_at,
            event_id=run.closed_event_id or run.event_id,
            **described,
        )
        rows.append((entry, key))
    return rows


def signal_entry(signal: SignalIn) -> TimelineEntry:
    given = signal.input if isinstance(signal.input, dict) else {}
    if signal.name == "document_uploaded":
        kind, what = (
            EntryKind.DOCUMENT,
            f"{given.get('doc_type')} uploaded ({given.get('document_id')})",
        )
    elif signal.name == "registry_result":
        kind, what = (
            EntryKind.REGISTRY,
            f"callback {given.get('idempotency_key')} → {given.get('outcome')}",
        )
    else:
        kind, what = EntryKind.SIGNAL, signal.name
    return TimelineEntry(at=signal.at, kind=kind, what=what, event_id=signal.event_id)
