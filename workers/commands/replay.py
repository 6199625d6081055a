"""`jieya replay`: replay case histories with today's workflow code, so a change
that would break running or archived cases is caught before it ships, and
print each case's timeline."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import date, datetime
from datetime import time as clock_time
from pathlib import Path

import typer
from sqlalchemy import select
from temporalio.client import Client, WorkflowHistory
from temporalio.worker import Replayer

from kernel.case_history import LoadedHistory, from_file, load_case_runs
from kernel.codec import PayloadKeys, data_converter, decrypt_json
from kernel.db import SessionFactory, create_engine, session_factory
from kernel.settings import Settings
from kernel.temporal import connect_temporal
from models.history_events import attributes, event_kind, workflow_task_starts
from models.tables import AuditEvent, Case, CaseHistory
from models.timeline import build_timeline
from workers.commands.timeline_text import render_timeline
from workflows.archive import ArchiveHistoriesWorkflow
from workflows.release_case import ReleaseCaseWorkflow

REPLAY_WORKFLOWS = [ReleaseCaseWorkflow, ArchiveHistoriesWorkflow]

EXIT_OK, EXIT_NONDETERMINISM, EXIT_USAGE, EXIT_MISSING = 0, 1, 2, 3

# Events a workflow task's commands produce: where a divergence shows.
COMMAND_EVENTS = {
    "ActivityTaskScheduled",
    "ActivityTaskCancelRequested",
    "TimerStarted",
    "TimerCanceled",
    "MarkerRecorded",
    "UpsertWorkflowSearchAttributes",
    "WorkflowPropertiesModified",
    "StartChildWorkflowExecutionInitiated",
    "SignalExternalWorkflowExecutionInitiated",
    "RequestCancelExternalWorkflowExecutionInitiated",
    "WorkflowExecutionCompleted",
    "WorkflowExecutionFailed",
    "WorkflowExecutionContinuedAsNew",
    "WorkflowExecutionCanceled",
}


@dataclass(frozen=True)
class ReplayOutcome:
    workflow_id: str
    run_id: str
    ok: bool
    seconds: float  # the replay itself, without locating a divergence
    events: int
    event_id: int | None = None
    event_type: str | None = None
    event_name: str | None = None  # activity type, timer id, update name …
    message: str = ""

    def describe(self) -> str:
        if self.ok:
            return f"OK {self.workflow_id} ({self.events} events, replayed in {self.seconds:.3f}s)"
        where = f"event {self.event_id} {self.event_type}" if self.event_id else "an unknown event"
        if self.event_name:
            where += f" ({self.event_name})"
        return f"NON-DETERMINISTIC {self.workflow_id} run {self.run_id} at {where}: {self.message}"


def build_replayer(keys: PayloadKeys | None = None) -> Replayer:
    """A replayer that reads encrypted payloads with `keys` (and plain ones anyway)."""
    return Replayer(workflows=REPLAY_WORKFLOWS, data_converter=data_converter(keys))


async def _fails(replayer: Replayer, history: WorkflowHistory) -> Exception | None:
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    return result.replay_failure


def _event_name(event: dict) -> str | None:
    attrs = attributes(event)
    for key in ("activityType", "workflowType"):
        if isinstance(attrs.get(key), dict):
            return attrs[key].get("name")
    if "timerId" in attrs:
        return f"timer {attrs['timerId']}"
    request = attrs.get("acceptedRequest", {}).get("input", {})
    return request.get("name")


async def _locate(replayer: Replayer, history: WorkflowHistory, reason: str) -> dict | None:
    """The event where today's code parts from the history.

    Core names it in some errors (`HistoryEvent(id: 115, …)`); otherwise bisect
    over the prefixes that end at a workflow task start (each replays on its
    own): the first failing prefix holds the diverging task's commands, and the
    one matching the activity type the error quotes is the culprit."""
    events = history.to_json_dict()["events"]
    named = _NAMED_EVENT.search(reason)
    if named:
        wanted = named.group(1)
        return next((e for e in events if str(e["eventId"]) == wanted), None)
    cuts = workflow_task_starts({"events": events}) + [len(events)]
    low, high = 0, len(cuts) - 1
    while low < high:
        middle = (low + high) // 2
        prefix = WorkflowHistory.from_json(history.workflow_id, {"events": events[: cuts[middle]]})
        if await _fails(replayer, prefix):
            high = middle
        else:
            low = middle + 1
    window = events[cuts[low - 1] if low > 0 else 0 : cuts[low]]
    commands = [e for e in window if event_kind(e) in COMMAND_EVENTS]
    quoted = set(re.findall(r"'([^']+)'", reason))
    return next(
        (e for e in commands if _event_name(e) in quoted),
        commands[0] if commands else (window[-1] if window else None),
    )


# The SDK wraps core's reason in a Rust debug dump; show people the reason.
_CORE_MESSAGE = re.compile(r'message: "((?:[^"\\]|\\.)*)"')
_NAMED_EVENT = re.compile(r"HistoryEvent\(id: (\d+)")


def _core_message(failure: Exception) -> str:
    found = _CORE_MESSAGE.search(str(failure))
    return found.group(1) if found else str(failure)


async def replay_history(
    history: WorkflowHistory, replayer: Replayer | None = None
) -> ReplayOutcome:
    replayer = replayer or build_replayer()
    started = time.perf_counter()
    failure = await _fails(replayer, history)
    seconds = time.perf_counter() - started
    events = len(history.events)
    if failure is None:
        return ReplayOutcome(history.workflow_id, history.run_id, True, seconds, events)
    reason = _core_message(failure)
    event = await _locate(replayer, history, reason)
    return ReplayOutcome(
        history.workflow_id,
        history.run_id,
        False,
        seconds,
        events,
        event_id=int(event["eventId"]) if event else None,
        event_type=event_kind(event) if event else None,
        event_name=_event_name(event) if event else None,
        message=f"{type(failure).__name__}: {reason}",
    )


async def _audit(sessions: SessionFactory | None, case_id: str) -> list[AuditEvent]:
    if sessions is None:
        return []
    async with sessions() as session:
        rows = await session.exec(
            select(AuditEvent).where(AuditEvent.stream == case_id).order_by(AuditEvent.seq)
        )
        return list(rows.scalars())


@dataclass(frozen=True)
class Replaying:
    """What every replay of one command shares."""

    replayer: Replayer
    keys: PayloadKeys | None
    sessions: SessionFactory | None


async def _replay_loaded(run: Replaying, loaded: LoadedHistory, timeline: bool) -> ReplayOutcome:
    outcome = await replay_history(loaded.history, run.replayer)
    typer.echo(f"{outcome.describe()} [history from {loaded.source.value}]")
    if timeline:
        # The timeline reads decisions and comments out of the payloads: decrypted.
        readable = decrypt_json(loaded.as_dict(), run.keys)
        built = build_timeline(readable, await _audit(run.sessions, loaded.case_id))
        for line in render_timeline(loaded.case_id, built):
            typer.echo(line)
    return outcome


async def _case_ids(sessions: SessionFactory, since: date | None) -> list[str]:
    """Every case the database knows, and every archived history (a case row may be gone)."""
    cutoff = datetime.combine(since, clock_time.min).astimezone() if since else None
    cases = select(Case.case_id)
    archived = select(CaseHistory.case_id)
    if cutoff is not None:
        cases = cases.where(Case.updated_at >= cutoff)
        archived = archived.where(CaseHistory.closed_at >= cutoff)
    async with sessions() as session:
        found = set((await session.exec(cases)).scalars())
        found |= set((await session.exec(archived)).scalars())
    return sorted(found)


async def _connect(settings: Settings) -> Client | None:
    try:
        return await connect_temporal(settings)
    except RuntimeError as error:  # the SDK's "failed client connect"
        typer.echo(f"Temporal not reachable ({error}); using archived histories only", err=True)
        return None


async def run_replay(
    settings: Settings,
    case_id: str | None,
    file: Path | None,
    all_cases: bool,
    since: date | None,
    timeline: bool | None,
) -> int:
    if sum((case_id is not None, file is not None, all_cases)) != 1:
        typer.echo("give exactly one of CASE_ID, --file HISTORY.json or --all", err=True)
        return EXIT_USAGE
    keys = settings.payload_keyring()
    engine = create_engine(settings.database_url, pool_size=2) if settings.database_url else None
    sessions = session_factory(engine) if engine else None
    run = Replaying(build_replayer(keys), keys, sessions)
    try:
        if file is not None:
            try:
                loaded = from_file(file, keys)
            except (OSError, ValueError) as error:
                typer.echo(f"cannot read {file}: {error}", err=True)
                return EXIT_USAGE
            outcome = await _replay_loaded(run, loaded, timeline is not False)
            return EXIT_OK if outcome.ok else EXIT_NONDETERMINISM
        if all_cases and sessions is None:
            typer.echo("--all needs JIEYA_DATABASE_URL (the case list lives there)", err=True)
            return EXIT_USAGE
        client = await _connect(settings)
        ids = [case_id] if case_id else await _case_ids(sessions, since)
        show = timeline is True or (timeline is None and not all_cases)
        return await _replay_cases(run, client, ids, show, summary=all_cases)
    finally:
        if engine is not None:
            await engine.dispose()


async def _replay_cases(
    run: Replaying, client: Client | None, case_ids: list[str], timeline: bool, summary: bool
) -> int:
    failed, missing, seconds = [], [], []
    for case_id in case_ids:
        if run.sessions is None:
            runs = await load_case_runs(client, None, case_id)
        else:
            async with run.sessions() as session:
                runs = await load_case_runs(client, session, case_id)
        if not runs:
            typer.echo(f"MISSING {case_id}: neither Temporal nor the archive has its history")
            missing.append(case_id)
            continue
        # A case that continued as new is replayed run by run, first to last.
        outcomes = [await _replay_loaded(run, one, timeline) for one in runs]
        seconds.append(sum(o.seconds for o in outcomes))
        failed.extend(o for o in outcomes if not o.ok)
    if summary:
        mean = sum(seconds) / len(seconds) if seconds else 0.0
        typer.echo(
            f"replayed {len(seconds)} case(s): {len(seconds) - len(failed)} OK, "
            f"{len(failed)} non-deterministic, {len(missing)} without history; "
            f"{mean * 1000:.0f} ms per case"
        )
    if failed:
        return EXIT_NONDETERMINISM
    return EXIT_MISSING if missing else EXIT_OK
