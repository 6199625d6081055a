"""Finding a case's Temporal history: from Temporal while it still has it, from
the PostgreSQL archive after retention dropped it, or from a file someone kept.
(Runs in ordinary processes, never inside a workflow.)"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from pathlib import Path

from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client, WorkflowHistory
from temporalio.service import RPCError, RPCStatusCode

from kernel.case_client import case_handle
from kernel.codec import PayloadKeys, decrypt_json
from kernel.logging import get_logger
from models.archive import archived_run, latest_archived
from models.history_events import parse_history

log = get_logger("jieya.history")

FETCH_TIMEOUT = timedelta(seconds=10)


class HistorySource(StrEnum):
    TEMPORAL = "temporal"
    ARCHIVE = "archive"
    FILE = "file"


@dataclass(frozen=True)
class LoadedHistory:
    case_id: str
    source: HistorySource
    history: WorkflowHistory

    @property
    def run_id(self) -> str:
        return self.history.run_id

    def as_dict(self) -> dict:
        return self.history.to_json_dict()


async def from_temporal(
    client: Client, case_id: str, timeout: timedelta = FETCH_TIMEOUT
) -> LoadedHistory | None:
    try:
        history = await case_handle(client, case_id).fetch_history(rpc_timeout=timeout)
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            # Temporal away or slow: the archive may still answer.
            log.warning("history fetch failed", case_id=case_id, status=error.status.name)
        return None
    return LoadedHistory(case_id, HistorySource.TEMPORAL, history)


async def from_archive(session: AsyncSession, case_id: str) -> LoadedHistory | None:
    row = await latest_archived(session, case_id)
    if row is None:
        return None
    return LoadedHistory(
        case_id, HistorySource.ARCHIVE, WorkflowHistory.from_json(case_id, row.history)
    )


async def load_case_history(
    client: Client | None,
    session: AsyncSession | None,
    case_id: str,
    timeout: timedelta = FETCH_TIMEOUT,
) -> LoadedHistory | None:
    """Temporal first (it has the newest events of a running case), then the archive."""
    if client is not None:
        loaded = await from_temporal(client, case_id, timeout)
        if loaded is not None:
            return loaded
    if session is not None:
        return await from_archive(session, case_id)
    return None


def continued_from(history: WorkflowHistory) -> str | None:
    """The run this one continued (as new) from, if any."""
    started = history.events[0].workflow_execution_started_event_attributes
    return started.continued_execution_run_id or None


async def _one_run(
    client: Client | None,
    session: AsyncSession | None,
    case_id: str,
    run_id: str,
    timeout: timedelta,
) -> LoadedHistory | None:
    if client is not None:
        handle = client.get_workflow_handle(case_id, run_id=run_id)
        try:
            history = await handle.fetch_history(rpc_timeout=timeout)
            return LoadedHistory(case_id, HistorySource.TEMPORAL, history)
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                log.warning("history fetch failed", case_id=case_id, status=error.status.name)
    if session is not None:
        row = await archived_run(session, case_id, run_id)
        if row is not None:
            history = WorkflowHistory.from_json(case_id, row.history)
            return LoadedHistory(case_id, HistorySource.ARCHIVE, history)
    return None


async def load_case_runs(
    client: Client | None,
    session: AsyncSession | None,
    case_id: str,
    timeout: timedelta = FETCH_TIMEOUT,
) -> list[LoadedHistory]:
    """Every run of the case, first to last: a case that continued as new has
    several. Each run from Temporal while it has it, else from the archive."""
    latest = await load_case_history(client, session, case_id, timeout)
    if latest is None:
        return []
    runs = [latest]
    while (previous := continued_from(runs[0].history)) is not None:
        earlier = await _one_run(client, session, case_id, previous, timeout)
        if earlier is None:
            log.warning("a run of the case is gone", case_id=case_id, run_id=previous)
            break
        runs.insert(0, earlier)
    return runs


def history_json(document: dict) -> dict:
    """The history in `document`: a bare history, or a `jieya case export` file."""
    if "events" in document:
        return document
    nested = document.get("history")
    if isinstance(nested, dict) and "events" in nested:
        return nested
    raise ValueError("no workflow history in this file (expected 'events' or 'history.events')")


def from_file(path: Path, keys: PayloadKeys | None = None) -> LoadedHistory:
    history = history_json(json.loads(path.read_text()))
    # The file does not carry the workflow id; the case input it started with does
    # (encrypted, in a history recorded with the payload codec).
    started = parse_history(decrypt_json(history, keys)).input
    case_id = started.get("case_id") if isinstance(started, dict) else None
    return LoadedHistory(
        case_id or path.stem,
        HistorySource.FILE,
        WorkflowHistory.from_json(case_id or path.stem, history),
    )
