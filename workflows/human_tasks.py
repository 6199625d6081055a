"""Human tasks of ReleaseCaseWorkflow: open one, wait for its decision with a
reminder, an escalation and then a reminder every SLA period (no wait without
a deadline), and take decisions through the validated `decide` update.

A mixin: it uses the workflow's state (`_case_id`, `_task`, `_side_tasks`,
`_decisions`, `_timings`, …) and its `_enter`, `_event`, `_guarded`,
`_alert_staff`. The main flow has one task at a time (`_task`); incidents
beside it (a message that would not go out) are `_side_tasks`."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.case_activities import CaseActivities
    from models.enums import REQUIRED_DOC_TYPES, CaseStatus, DecisionKind, SlaStage, Step, TaskKind
    from models.payloads import (
        CloseTaskInput,
        DecisionOutcome,
        DecisionRequest,
        Incident,
        OpenTask,
        OpenTaskInput,
        RecordDecisionInput,
        TaskSlaInput,
    )
    from models.rules import APPROVALS, queue_for
    from workflows.decisions import DecisionRules, target_task
    from workflows.policies import DB_ACTIVITY, INCIDENT_RECORD

REMINDER_AT = 0.75


class HumanTasks:
    async def _ask(
        self, kind: TaskKind, details: dict, *, incident: Incident | None = None
    ) -> DecisionKind:
        """Open a human task and wait for the decision on it."""
        side = incident is not None and incident.side
        self._task_seq += 1
        opened = workflow.now()
        sla = self._timings.sla_for(kind)
        task = OpenTask(
            task_id=f"{self._case_id}-{self._task_seq}-{kind.value}",
            kind=kind,
            round=self._round,
            due_at=opened + sla,
            senior_only=incident is not None,
            incident=incident,
        )
        # Known to the validator before anyone can see the task in the inbox,
        # so a quick operator is never told "no decision is expected now".
        outer = self._task
        if side:
            self._side_tasks[task.task_id] = task
        else:
            self._task = task
            await self._enter(CaseStatus.AWAITING_APPROVAL, f"awaiting_{kind.value}")
        opening = OpenTaskInput(
            case_id=self._case_id,
            task_id=task.task_id,
            kind=kind,
            round=self._round,
            details=details,
            due_at=task.due_at,
            queue=queue_for(incident=incident is not None, escalated=False),
        )
        await self._record_task(CaseActivities.open_task, opening, incident)
        if incident is not None:
            await self._alert_staff(self._sla_alert(task, SlaStage.INCIDENT))
        decision = await self._await_decision(task.task_id, opened, sla)
        if side:
            self._side_tasks.pop(task.task_id, None)
        else:
            self._task = outer
        if not self._resilient:  # since incidents, recording the decision closes the task
            await self._close_task_row(task)
        if decision.decision == DecisionKind.REQUEST_DOCUMENTS:
            wanted = decision.documents or list(REQUIRED_DOC_TYPES)
            for doc_type in wanted:
                self._documents.pop(doc_type, None)
            self._round += 1
        if decision.decision == DecisionKind.REJECT:
            self._rejection = decision.comment or "rejected by an operator"
        if decision.decision == DecisionKind.CANCEL:
            self._cancellation = decision.comment
        return decision.decision

    async def _close_task_row(self, task: OpenTask, cancelled: bool = False) -> None:
        closing = CloseTaskInput(task_id=task.task_id, cancelled=cancelled)
        await self._record_task(CaseActivities.close_task, closing, task.incident)

    async def _record_task(self, activity, request, incident: Incident | None) -> None:
        """Write a task row. An incident's own record outlasts any planned outage and,
        if even that fails, the incident still stands in the workflow for the
        validator, the state query and `jieya doctor`."""
        if not self._resilient:
            await workflow.execute_activity_method(activity, request, **DB_ACTIVITY)
            return

        def write(policy: dict):
            # The task row carries the case's queued bookkeeping (its status, mostly).
            return self._carrying(
                lambda records: workflow.execute_activity_method(
                    activity, request.model_copy(update={"records": records}), **policy
                )
            )

        if incident is None:
            await self._guarded(Step.HUMAN_TASK, lambda: write(DB_ACTIVITY))
            return
        try:
            await write(INCIDENT_RECORD)
        except ActivityError as error:
            workflow.logger.error("incident not recorded", extra={"error": str(error.cause)})

    async def _await_decision(
        self, task_id: str, opened: datetime, sla: timedelta
    ) -> DecisionRequest:
        """Wait for the decision; remind at 75 % of the SLA, escalate at 100 %,
        then remind the senior queue again every SLA period."""

        def decided() -> bool:
            return task_id in self._decisions

        for stage, fraction in ((SlaStage.REMINDER, REMINDER_AT), (SlaStage.ESCALATION, 1.0)):
            remaining = opened + sla * fraction - workflow.now()
            if remaining > timedelta(0):
                try:
                    await workflow.wait_condition(decided, timeout=remaining)
                    return self._decisions.pop(task_id)
                except TimeoutError:
                    pass
            if decided():
                return self._decisions.pop(task_id)
            await self._sla_stage(task_id, stage)
        if not self._resilient:
            await workflow.wait_condition(decided)
            return self._decisions.pop(task_id)
        overdue = 1
        while True:
            try:
                await workflow.wait_condition(decided, timeout=sla)
                return self._decisions.pop(task_id)
            except TimeoutError:
                overdue += 1
                await self._sla_stage(task_id, SlaStage.overdue(overdue))

    def _sla_alert(self, task: OpenTask, stage: str) -> TaskSlaInput:
        return TaskSlaInput(
            case_id=self._case_id,
            task_id=task.task_id,
            kind=task.kind,
            stage=stage,
            due_at=task.due_at or workflow.now(),
            incident=task.incident,
        )

    async def _sla_stage(self, task_id: str, stage: str) -> None:
        task = self._task if self._task and self._task.task_id == task_id else None
        task = task or self._side_tasks.get(task_id)
        if task is None:
            return
        alert = self._sla_alert(task, stage)
        if self._resilient:
            try:
                await workflow.execute_activity_method(
                    CaseActivities.mark_task_sla, alert, **DB_ACTIVITY
                )
            except ActivityError as error:  # the reminder still goes out by e-mail
                workflow.logger.warning("task SLA not recorded", extra={"error": str(error.cause)})
        else:
            await workflow.execute_activity_method(
                CaseActivities.mark_task_sla, alert, **DB_ACTIVITY
            )
        if stage == SlaStage.ESCALATION:
            escalated = task.model_copy(update={"escalated": True})
            if task.task_id in self._side_tasks:
                self._side_tasks[task.task_id] = escalated
            else:
                self._task = escalated
        await self._alert_staff(alert)

    # --- decisions ----------------------------------------------------------------

    @workflow.update
    async def decide(self, request: DecisionRequest) -> DecisionOutcome:
        """A human decision on an open task; the validator refuses bad ones
        before they reach the history."""
        return await self._accept(request)

    @decide.validator
    def _validate_decide(self, request: DecisionRequest) -> None:
        self._rules().check(request)

    def _open_tasks(self) -> list[OpenTask]:
        return ([self._task] if self._task else []) + list(self._side_tasks.values())

    def _rules(self) -> DecisionRules:
        return DecisionRules(
            status=self._status,
            tasks=self._open_tasks(),
            approvals=self._approvals,
            deciding=frozenset(self._deciding),
            opened_by=self._opened_by,
            seen_requests=self._seen_requests,
            registry_busy=self._status == CaseStatus.DEREGISTERING,
            closing=self._closing,
        )

    async def _accept(self, request: DecisionRequest) -> DecisionOutcome:
        task = target_task(self._open_tasks(), request.decision, request.task_id)
        assert task is not None  # the validator guarantees an open task
        recording = RecordDecisionInput(
            case_id=self._case_id,
            task_id=task.task_id,
            decision_ref=f"{task.task_id}:{request.decision.value}:{request.actor}",
            request=request,
            close_task=self._resilient,
        )
        if self._resilient:
            # Recorded before the case acts on it: a decision that cannot be
            # written (the update fails, the caller is told) changes nothing.
            self._deciding.add(task.task_id)
            try:
                # Local: a short write the person is waiting for, one marker in the history.
                await workflow.execute_local_activity_method(
                    CaseActivities.record_decision, recording, **DB_ACTIVITY
                )
            finally:
                self._deciding.discard(task.task_id)
            self._take(request, task)
        else:
            self._take(request, task)
            await workflow.execute_activity_method(
                CaseActivities.record_decision, recording, **DB_ACTIVITY
            )
        return DecisionOutcome(
            status=self._status,
            step=self._step,
            message=f"{request.decision.value} recorded on {task.kind.value}",
        )

    def _take(self, request: DecisionRequest, task: OpenTask) -> None:
        if request.request_id:
            self._seen_requests.add(request.request_id)
        if request.decision == DecisionKind.APPROVE and task.kind in APPROVALS:
            self._approvals.append(request.actor)
        self._decisions[task.task_id] = request
