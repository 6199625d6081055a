"""Temporal Schedules the deployment relies on, created (or brought up to date)
when the worker starts."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleHandle,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
)

from kernel.settings import CASES_TASK_QUEUE
from models.archive import ArchiveClosedCasesInput
from workflows.archive import ArchiveHistoriesWorkflow

ARCHIVE_SCHEDULE_ID = "jieya-archive-histories"
ARCHIVE_EVERY = timedelta(minutes=5)


def archive_schedule(every: timedelta = ARCHIVE_EVERY) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            ArchiveHistoriesWorkflow.run,
            ArchiveClosedCasesInput(),
            id=ARCHIVE_SCHEDULE_ID,
            task_queue=CASES_TASK_QUEUE,
            execution_timeout=timedelta(hours=1),
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        # One archiver at a time; a missed run is not worth catching up, the
        # next one covers the same cases.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=every),
    )


async def ensure_archive_schedule(
    client: Client, every: timedelta = ARCHIVE_EVERY
) -> ScheduleHandle:
    """Create the archive schedule, or bring an existing one to this definition."""
    wanted = archive_schedule(every)
    try:
        return await client.create_schedule(ARCHIVE_SCHEDULE_ID, wanted)
    except ScheduleAlreadyRunningError:
        handle = client.get_schedule_handle(ARCHIVE_SCHEDULE_ID)
        await handle.update(lambda _current: ScheduleUpdate(schedule=wanted))
        return handle
