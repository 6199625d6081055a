"""The yardstick for bench/throughput.py: plain Temporal with the same number
of activities and one update, and no work inside the activities."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow

BARE_TASK_QUEUE = "bench-bare"


@activity.defn
async def bare_step(n: int) -> int:
    return n


@workflow.defn
class BareWorkflow:
    def __init__(self) -> None:
        self._approved = False

    @workflow.run
    async def run(self, activities: int) -> int:
        before = activities // 2
        for n in range(before):
            await workflow.execute_activity(
                bare_step, n, start_to_close_timeout=timedelta(seconds=30)
            )
        await workflow.wait_condition(lambda: self._approved)
        for n in range(before, activities):
            await workflow.execute_activity(
                bare_step, n, start_to_close_timeout=timedelta(seconds=30)
            )
        return activities

    @workflow.update
    async def approve(self) -> str:
        self._approved = True
        return "ok"

    @approve.validator
    def _check(self) -> None:
        if self._approved:
            raise ValueError("already approved")
