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
from models.reconcile import ReconcileInput
from workflows.archive import ArchiveHistoriesWorkflow
from workflows.reconcile import ReconcileWorkflow

ARCHIVE_SCHEDULE_ID = "jieya-archive-histories"
ARCHIVE_EVERY = timedelta(minutes=5)
RECONCILE_SCHEDULE_ID = "jieya-reconcile"
RECONCILE_EVERY = timedelta(minutes=2)


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


def reconcile_schedule(every: timedelta = RECONCILE_EVERY) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            ReconcileWorkflow.run,
            ReconcileInput(repair=True),
            id=RECONCILE_SCHEDULE_ID,
            task_queue=CASES_TASK_QUEUE,
            execution_timeout=timedelta(minutes=30),
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        # One reconciler at a time; each run checks everything, so none is caught up.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=every),
    )


async def _ensure(client: Client, schedule_id: str, wanted: Schedule) -> ScheduleHandle:
    """Create the schedule, or bring an existing one to this definition."""
    try:
        return await client.create_schedule(schedule_id, wanted)
    except ScheduleAlreadyRunningError:
        handle = client.get_schedule_handle(schedule_id)
        await handle.update(lambda _current: ScheduleUpdate(schedule=wanted))
        return handle


async def ensure_archive_schedule(
    client: Client, every: timedelta = ARCHIVE_EVERY
) -> ScheduleHandle:
    return await _ensure(client, ARCHIVE_SCHEDULE_ID, archive_schedule(every))


async def ensure_reconcile_schedule(
    client: Client, every: timedelta = RECONCILE_EVERY
) -> ScheduleHandle:
    return await _ensure(client, RECONCILE_SCHEDULE_ID, reconcile_schedule(every))
