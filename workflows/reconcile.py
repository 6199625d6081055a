"""ReconcileWorkflow: started by a Temporal Schedule every few minutes to make
case rows, workflows and the outbox agree (`activities.reconcile_activities`)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.reconcile_activities import Reconciler
    from models.reconcile import ReconcileInput, ReconcileReport

# The next scheduled run comes in minutes and repeats every check, so a run
# that fails gives up after a few tries; the heartbeat tells a long run from a stuck one.
RECONCILE_ACTIVITY = dict(
    start_to_close_timeout=timedelta(minutes=10),
    heartbeat_timeout=timedelta(minutes=2),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=5),
        maximum_interval=timedelta(minutes=1),
        maximum_attempts=3,
    ),
)


@workflow.defn
class ReconcileWorkflow:
    @workflow.run
    async def run(self, request: ReconcileInput) -> ReconcileReport:
        return await workflow.execute_activity_method(
            Reconciler.reconcile, request, **RECONCILE_ACTIVITY
        )
