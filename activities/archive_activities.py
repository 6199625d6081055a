"""Copying closed cases' histories from Temporal into PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from temporalio import activity
from temporalio.client import Client

from kernel.db import SessionFactory
from models.archive import (
    ArchiveClosedCasesInput,
    ArchiveClosedCasesResult,
    is_archived,
    newest_close_time,
    save_history,
)
from models.case_contract import CASE_WORKFLOW

# Visibility is eventually consistent: a case closed just before the last run
# may only now be listed. Re-listing an hour costs little; archived runs are skipped.
VISIBILITY_OVERLAP = timedelta(hours=1)


def closed_cases_query(since: datetime | None) -> str:
    query = f"WorkflowType = '{CASE_WORKFLOW}' AND ExecutionStatus != 'Running'"
    if since is not None:
        stamp = since.astimezone(UTC).isoformat().replace("+00:00", "Z")
        query += f" AND CloseTime >= '{stamp}'"
    return query


class HistoryArchiver:
    def __init__(self, client: Client, sessions: SessionFactory) -> None:
        self._client = client
        self._sessions = sessions

    @activity.defn
    async def archive_closed_cases(
        self, request: ArchiveClosedCasesInput
    ) -> ArchiveClosedCasesResult:
        """Archive every closed case not archived yet, closed at or after `since`."""
        since = request.since
        if since is None:
            async with self._sessions() as session:
                newest = await newest_close_time(session)
            since = newest - VISIBILITY_OVERLAP if newest else None
        archived = already = 0
        async for execution in self._client.list_workflows(closed_cases_query(since)):
            # A retried activity resumes cheaply: everything archived is skipped.
            activity.heartbeat(execution.id)
            async with self._sessions() as session:
                if await is_archived(session, execution.id, execution.run_id):
                    already += 1
                    continue
            handle = self._client.get_workflow_handle(execution.id, run_id=execution.run_id)
            history = await handle.fetch_history()
            async with self._sessions() as session, session.begin():
                await save_history(
                    session,
                    case_id=execution.id,
                    run_id=execution.run_id,
                    workflow_type=execution.workflow_type,
                    status=execution.status.name if execution.status else "UNKNOWN",
                    history=history.to_json_dict(),
                    closed_at=execution.close_time,
                )
            archived += 1
        activity.logger.info(
            "histories archived", extra={"archived": archived, "already_archived": already}
        )
        return ArchiveClosedCasesResult(archived=archived, already_archived=already, since=since)
