"""Messages of ReleaseCaseWorkflow, off the critical path: the case queues a
message and goes on; a sender beside the main flow delivers the queue in order.

Customer messages that give up become an incident of their own (beside the
main flow, skippable); staff alerts that give up stay pending in the outbox,
where the reconciler sends them later. A mixin of ReleaseCaseWorkflow."""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.notification_activities import NotificationActivities
    from models.enums import Milestone, Step
    from models.payloads import NotifyCustomerInput, TaskSlaInput
    from workflows.incidents import CaseEnded
    from workflows.policies import (
        LEGACY_EXTERNAL_ACTIVITY,
        MESSAGE_ACTIVITY,
        STAFF_ALERT_ACTIVITY,
    )


class Outgoing:
    def _start_senders(self) -> None:
        self._senders = [
            asyncio.create_task(self._send_customer_messages()),
            asyncio.create_task(self._send_staff_alerts()),
        ]

    async def _notify(
        self, milestone: Milestone, detail: str = "", only_after_first_round: bool = False
    ) -> None:
        if only_after_first_round and self._round == 1:
            return  # the "received" message already lists what to upload
        message = NotifyCustomerInput(
            case_id=self._case_id, milestone=milestone, round=self._round, detail=detail
        )
        if self._resilient:
            self._customer_queue.append(message)
            return
        await workflow.execute_activity_method(
            NotificationActivities.notify_customer, message, **LEGACY_EXTERNAL_ACTIVITY
        )

    async def _alert_staff(self, alert: TaskSlaInput) -> None:
        if self._resilient:
            self._staff_queue.append(alert)
            return
        await workflow.execute_activity_method(
            NotificationActivities.notify_staff, alert, **LEGACY_EXTERNAL_ACTIVITY
        )

    async def _next(self, queue: list) -> bool:
        """Until there is something to send (True) or the case is done with it (False)."""
        await workflow.wait_condition(lambda: bool(queue) or self._draining)
        return bool(queue)

    async def _send_customer_messages(self) -> None:
        while await self._next(self._customer_queue):
            message = self._customer_queue[0]
            try:
                await self._guarded(
                    Step.NOTIFY_CUSTOMER,
                    lambda m=message: workflow.execute_activity_method(
                        NotificationActivities.notify_customer, m, **MESSAGE_ACTIVITY
                    ),
                    side=True,
                )
            except CaseEnded as ended:
                self._end_beside(ended.decision)
            self._customer_queue.pop(0)

    async def _send_staff_alerts(self) -> None:
        while await self._next(self._staff_queue):
            alert = self._staff_queue[0]
            try:
                await workflow.execute_activity_method(
                    NotificationActivities.notify_staff, alert, **STAFF_ALERT_ACTIVITY
                )
            except ActivityError as error:
                workflow.logger.warning(
                    "staff alert not sent; left in the outbox for the reconciler",
                    extra={"stage": alert.stage, "error": str(error.cause)},
                )
            self._staff_queue.pop(0)

    async def _drain_messages(self) -> None:
        """Let the senders finish what is queued, then stop them."""
        if not self._resilient:
            return
        self._draining = True
        await workflow.wait_condition(lambda: all(sender.done() for sender in self._senders))
