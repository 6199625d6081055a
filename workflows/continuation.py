"""Continue-as-new for ReleaseCaseWorkflow: a case that waits long or goes
round many times starts a fresh run at a safe point, carrying its state, so
its history stays short (fast replay, far from Temporal's 51,200-event limit).

Safe points are where nothing is half done: the start of a round, and the
registry wait. A run with an incident open beside the main flow waits for it
(that incident's task would otherwise be lost). A mixin of ReleaseCaseWorkflow."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.payloads import CarriedState, Resume


class Continuation:
    def _restore(self, carried: CarriedState) -> None:
        self._run = carried.run
        self._resume = carried.resume
        self._round = carried.round
        self._documents = dict(carried.documents)
        self._seen_documents = set(carried.seen_documents)
        self._risk = carried.risk
        self._approvals = list(carried.approvals)
        self._seen_requests = set(carried.seen_requests)
        self._task_seq = carried.task_seq
        self._event_seq = carried.event_seq
        self._rejection = carried.rejection
        self._registry_key = carried.registry_key
        self._registry_attempt = carried.registry_attempt
        self._customer_queue = list(carried.customer_queue)
        self._staff_queue = list(carried.staff_queue)

    def _carry(self, resume: Resume) -> CarriedState:
        return CarriedState(
            resume=resume,
            run=self._run + 1,
            round=self._round,
            documents=dict(self._documents),
            seen_documents=sorted(self._seen_documents),
            risk=self._risk,
            approvals=list(self._approvals),
            seen_requests=sorted(self._seen_requests),
            task_seq=self._task_seq,
            event_seq=self._event_seq,
            rejection=self._rejection,
            registry_key=self._registry_key,
            registry_attempt=self._registry_attempt,
            customer_queue=list(self._customer_queue),
            staff_queue=list(self._staff_queue),
        )

    def _history_is_long(self) -> bool:
        info = workflow.info()
        length = info.get_current_history_length()
        return length >= self._timings.history_budget or info.is_continue_as_new_suggested()

    async def _continue_as_new_if_due(self, resume: Resume) -> None:
        """Continue as new here if this run's history has grown past its budget."""
        if not self._resilient or self._side_tasks or self._ending is not None:
            return
        if not self._history_is_long():
            return
        events = workflow.info().get_current_history_length()
        await self._event(
            "case.continued", {"run": self._run + 1, "resume": resume.value, "events": events}
        )
        await self._flush()  # the next run starts with nothing queued
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.logger.info("continuing as new", extra={"run": self._run + 1, "events": events})
        workflow.continue_as_new(self._input.model_copy(update={"carried": self._carry(resume)}))
