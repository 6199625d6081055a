"""ArchiveHistoriesWorkflow: started by a Temporal Schedule every few minutes to
copy closed cases' histories into PostgreSQL before retention drops them."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.archive_activities import HistoryArchiver
    from models.archive import ArchiveClosedCasesInput, ArchiveClosedCasesResult

# A backlog (first run, or after an outage) may take a while; the heartbeat per
# case tells a stuck run from a long one. The next scheduled run retries anyway,
# so a few attempts here are enough.
ARCHIVE_ACTIVITY = dict(
    start_to_close_timeout=timedelta(minutes=30),
    heartbeat_timeout=timedelta(minutes=2),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=5),
        maximum_interval=timedelta(minutes=1),
        maximum_attempts=5,
    ),
)


@workflow.defn
class ArchiveHistoriesWorkflow:
    @workflow.run
    async def run(self, request: ArchiveClosedCasesInput) -> ArchiveClosedCasesResult:
        return await workflow.execute_activity_method(
            HistoryArchiver.archive_closed_cases, request, **ARCHIVE_ACTIVITY
        )
