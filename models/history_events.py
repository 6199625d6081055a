"""Reading a Temporal history (its proto-JSON form, as `WorkflowHistory.to_json_dict()`
or `temporal workflow show -o json` write it) into plain facts: what ran, with
which input, how often it was tried, and when it ended.

No Temporal client or converter is needed: our payloads are JSON, so an
archived history stays readable after the code that wrote it is gone."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

JSON_ENCODINGS = ("json/plain", "json/protobuf")
LOCAL_ACTIVITY_MARKER = "core_local_activity"


def decode_payload(payload: dict) -> Any:
    encoding = base64.b64decode(payload.get("metadata", {}).get("encoding", "")).decode()
    if encoding == "binary/null":
        return None
    if encoding in JSON_ENCODINGS:
        return json.loads(base64.b64decode(payload.get("data", "")))
    return f"<{encoding or 'unknown'} payload>"


def decode_payloads(container: dict | None) -> list[Any]:
    return [decode_payload(p) for p in (container or {}).get("payloads", [])]


def first_payload(container: dict | None) -> Any:
    values = decode_payloads(container)
    return values[0] if values else None


def event_kind(event: dict) -> str:
    """`ActivityTaskScheduled` for either JSON form (enum names differ, attribute keys do not)."""
    for key in event:
        if key.endswith("EventAttributes"):
            name = key.removesuffix("EventAttributes")
            return name[0].upper() + name[1:]
    raw = str(event.get("eventType", ""))
    return "".join(part.title() for part in raw.removeprefix("EVENT_TYPE_").split("_"))


def attributes(event: dict) -> dict:
    for key, value in event.items():
        if key.endswith("EventAttributes"):
            return value
    return {}


def event_time(event: dict) -> datetime:
    return datetime.fromisoformat(event["eventTime"].replace("Z", "+00:00"))


def failure_text(failure: dict | None) -> str:
    """The failure's message and its causes, outermost first."""
    parts = []
    while failure:
        if failure.get("message"):
            parts.append(failure["message"])
        failure = failure.get("cause")
    return ": ".join(parts) or "failed"


@dataclass
class ActivityRun:
    event_id: int  # the ActivityTaskScheduled event
    name: str
    input: Any
    scheduled_at: datetime
    attempts: int = 0
    outcome: str = "running"  # completed | failed | timed_out | canceled | running
    closed_at: datetime | None = None
    closed_event_id: int | None = None
    result: Any = None
    failure: str | None = None


@dataclass
class SignalIn:
    event_id: int
    name: str
    input: Any
    at: datetime


@dataclass
class Closing:
    event_id: int
    at: datetime
    outcome: str  # completed | failed | terminated | timed_out | canceled | continued_as_new
    result: Any = None
    failure: str | None = None


@dataclass
class ParsedHistory:
    workflow_type: str
    input: Any
    started_at: datetime
    events: int
    # Activities and signals in the order their outcome entered the history.
    items: list[ActivityRun | SignalIn] = field(default_factory=list)
    closing: Closing | None = None

    @property
    def activities(self) -> list[ActivityRun]:
        return [item for item in self.items if isinstance(item, ActivityRun)]


CLOSINGS = {
    "WorkflowExecutionCompleted": "completed",
    "WorkflowExecutionFailed": "failed",
    "WorkflowExecutionTerminated": "terminated",
    "WorkflowExecutionTimedOut": "timed_out",
    "WorkflowExecutionCanceled": "canceled",
    "WorkflowExecutionContinuedAsNew": "continued_as_new",
}
ACTIVITY_ENDS = {
    "ActivityTaskCompleted": "completed",
    "ActivityTaskFailed": "failed",
    "ActivityTaskTimedOut": "timed_out",
    "ActivityTaskCanceled": "canceled",
}


def parse_history(history: dict) -> ParsedHistory:
    events = history.get("events", [])
    if not events or event_kind(events[0]) != "WorkflowExecutionStarted":
        raise ValueError("not a workflow history: it does not begin with WorkflowExecutionStarted")
    start = attributes(events[0])
    parsed = ParsedHistory(
        workflow_type=start.get("workflowType", {}).get("name", ""),
        input=first_payload(start.get("input")),
        started_at=event_time(events[0]),
        events=len(events),
    )
    running: dict[int, ActivityRun] = {}
    for event in events[1:]:
        kind, attrs, event_id = event_kind(event), attributes(event), int(event["eventId"])
        if kind == "ActivityTaskScheduled":
            running[event_id] = ActivityRun(
                event_id=event_id,
                name=attrs.get("activityType", {}).get("name", ""),
                input=first_payload(attrs.get("input")),
                scheduled_at=event_time(event),
            )
        elif kind == "ActivityTaskStarted":
            # Written once, when the activity ends, carrying the last attempt's number.
            run = running.get(int(attrs.get("scheduledEventId", 0)))
            if run is not None:
                run.attempts = int(attrs.get("attempt", 1))
        elif kind in ACTIVITY_ENDS:
            run = running.pop(int(attrs.get("scheduledEventId", 0)), None)
            if run is None:
                continue
            run.outcome, run.closed_at, run.closed_event_id = (
                ACTIVITY_ENDS[kind],
                event_time(event),
                event_id,
            )
            run.result = first_payload(attrs.get("result"))
            if "failure" in attrs:
                run.failure = failure_text(attrs["failure"])
            parsed.items.append(run)
        elif kind == "MarkerRecorded" and attrs.get("markerName") == LOCAL_ACTIVITY_MARKER:
            parsed.items.append(_local_activity(event, attrs, event_id))
        elif kind == "WorkflowExecutionSignaled":
            parsed.items.append(
                SignalIn(
                    event_id=event_id,
                    name=attrs.get("signalName", ""),
                    input=first_payload(attrs.get("input")),
                    at=event_time(event),
                )
            )
        elif kind in CLOSINGS:
            parsed.closing = Closing(
                event_id=event_id,
                at=event_time(event),
                outcome=CLOSINGS[kind],
                result=first_payload(attrs.get("result")),
                failure=failure_text(attrs["failure"]) if "failure" in attrs else None,
            )
    # Still running (an open case): listed last, with no end.
    for run in running.values():
        parsed.items.append(run)
    return parsed


def _local_activity(event: dict, attrs: dict, event_id: int) -> ActivityRun:
    """A local activity leaves only a marker: what ran (`data`) and its result. Ours
    return what they wrote, so the result stands in for the input too."""
    details = attrs.get("details", {})
    about = first_payload(details.get("data"))
    about = about if isinstance(about, dict) else {}
    result = first_payload(details.get("result"))
    at = event_time(event)
    return ActivityRun(
        event_id=event_id,
        name=str(about.get("activity_type", "")),
        input=result,
        scheduled_at=at,
        attempts=int(about.get("attempt") or 1),
        outcome="failed" if "failure" in attrs else "completed",
        closed_at=at,
        closed_event_id=event_id,
        result=result,
        failure=failure_text(attrs["failure"]) if "failure" in attrs else None,
    )


def workflow_task_starts(history: dict) -> list[int]:
    """Positions (1-based event counts) just after each WorkflowTaskStarted: the
    prefixes of a history that the replayer can take on their own."""
    return [
        position
        for position, event in enumerate(history.get("events", []), start=1)
        if event_kind(event) == "WorkflowTaskStarted"
    ]
