"""The deregistration step of ReleaseCaseWorkflow: submit to the registry (车管所),
then wait for its signed callback or its answer to polling, until its deadline;
a refusal or a registry that does not answer in time goes to a person.

A mixin so the workflow module stays one readable page; it runs only as part
of ReleaseCaseWorkflow and uses its state (`_case_id`, `_timings`, `_ask`…)."""

from __future__ import annotations

import asyncio
import contextlib

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.registry_activities import RegistryActivities
    from models.enums import CaseStatus, DecisionKind, RegistryOutcome, Step, TaskKind
    from models.payloads import (
        CaseTimings,
        CheckDeregistrationInput,
        RegistryResult,
        Resume,
        SubmitDeregistrationInput,
    )
    from workflows.incidents import is_deadline
    from workflows.policies import LEGACY_EXTERNAL_ACTIVITY, REGISTRY_ACTIVITY, registry_wait

TRY_AGAIN = (DecisionKind.APPROVE, DecisionKind.RETRY)


class RegistryStep:
    # The workflow's state this step reads and writes (ReleaseCaseWorkflow owns it);
    # it also uses the workflow's `_enter`, `_move_to`, `_guarded`, `_carrying`,
    # `_ask` and `_continue_as_new_if_due`.
    _case_id: str
    _step: str
    _timings: CaseTimings
    _resilient: bool
    _registry_key: str | None
    _registry_attempt: int
    _registry_result: RegistryResult | None

    async def _deregister(self, resuming: bool = False) -> DecisionKind:
        """APPROVE once the mortgage is released; otherwise what a person decided."""
        while True:
            self._registry_key = f"{self._case_id}-dereg-{self._registry_attempt}"
            if resuming:
                # A continued run: the registry already has this request.
                await self._enter(CaseStatus.DEREGISTERING, "waiting_for_registry")
                result = RegistryResult(
                    idempotency_key=self._registry_key, outcome=RegistryOutcome.PENDING
                )
                resuming = False
            else:
                await self._enter(CaseStatus.DEREGISTERING, "submitting_to_registry")
                if self._resilient:  # the row shows the wait once the submission is written
                    self._move_to("waiting_for_registry")
                result = await self._guarded(Step.SUBMIT_DEREGISTRATION, self._submit)
            self._step = "waiting_for_registry"
            if self._resilient:
                result = await self._guarded(
                    Step.AWAIT_DEREGISTRATION, self._answer_or_resubmit(result)
                )
            else:
                result = await self._wait_for_registry_legacy(result)
            if result.outcome == RegistryOutcome.COMPLETED:
                return DecisionKind.APPROVE
            verdict = await self._ask(
                TaskKind.REGISTRY_FOLLOW_UP,
                self._follow_up_details(result),
            )
            if verdict not in TRY_AGAIN:
                return verdict
            if result.outcome == RegistryOutcome.PENDING:
                # Chase: keep waiting on the same request (a second one could
                # release the mortgage twice).
                await self._continue_as_new_if_due(Resume.REGISTRY_WAIT)
                resuming = True
                continue
            self._registry_attempt += 1  # refused: submit again, under a new key

    def _follow_up_details(self, result: RegistryResult) -> dict:
        details = {"reason": result.reason, "key": self._registry_key}
        if self._resilient:
            details["outcome"] = result.outcome.value
        return details

    async def _submit(self) -> RegistryResult:
        return await self._carrying(
            lambda records: workflow.execute_activity_method(
                RegistryActivities.submit_deregistration,
                SubmitDeregistrationInput(
                    case_id=self._case_id,
                    idempotency_key=self._registry_key,
                    callback_url=self._timings.registry_callback_url,
                    records=records,
                ),
                **(REGISTRY_ACTIVITY if self._resilient else LEGACY_EXTERNAL_ACTIVITY),
            )
        )

    def _answer_or_resubmit(self, submitted: RegistryResult):
        """The guarded unit of the wait: on a retry after an incident (the registry
        lost the request, or would not answer) submit again under the same key —
        the registry then finds or recreates that one request — and wait anew."""
        first = True

        async def attempt() -> RegistryResult:
            nonlocal first
            result = submitted if first else await self._submit()
            first = False
            return await self._wait_for_registry(result)

        return attempt

    def _final_callback(self) -> RegistryResult | None:
        result = self._registry_result
        if result is None or result.idempotency_key != self._registry_key:
            return None
        return result if result.outcome != RegistryOutcome.PENDING else None

    async def _wait_for_registry(self, result: RegistryResult) -> RegistryResult:
        """The registry's final answer, from its callback or from polling, or
        PENDING once its deadline has passed."""
        if result.outcome != RegistryOutcome.PENDING:
            return result
        if (called_back := self._final_callback()) is not None:
            self._registry_result = None
            return called_back
        timings = self._timings
        polling = workflow.start_activity_method(
            RegistryActivities.await_deregistration,
            CheckDeregistrationInput(case_id=self._case_id, idempotency_key=self._registry_key),
            **registry_wait(
                timings.registry_poll_first, timings.registry_poll_max, timings.registry_deadline
            ),
        )
        await workflow.wait_condition(lambda: polling.done() or self._final_callback() is not None)
        if not polling.done():
            polling.cancel()
            with contextlib.suppress(ActivityError, asyncio.CancelledError):
                await polling
            called_back, self._registry_result = self._final_callback(), None
            return called_back
        try:
            return polling.result()
        except ActivityError as error:
            if not is_deadline(error):
                raise
            hours = timings.registry_deadline.total_seconds() / 3600
            return RegistryResult(
                idempotency_key=self._registry_key,
                outcome=RegistryOutcome.PENDING,
                reason=f"the registry has not answered within {hours:g} hours",
            )

    async def _wait_for_registry_legacy(self, result: RegistryResult) -> RegistryResult:
        """How cases started before incidents existed wait: callback or a polling
        timer loop. Kept so their histories replay."""
        interval = self._timings.registry_poll_first
        while result.outcome == RegistryOutcome.PENDING:
            try:
                await workflow.wait_condition(
                    lambda: (
                        self._registry_result is not None
                        and self._registry_result.idempotency_key == self._registry_key
                    ),
                    timeout=interval,
                )
                result, self._registry_result = self._registry_result, None
            except TimeoutError:
                result = await workflow.execute_activity_method(
                    RegistryActivities.check_deregistration,
                    CheckDeregistrationInput(
                        case_id=self._case_id, idempotency_key=self._registry_key
                    ),
                    **LEGACY_EXTERNAL_ACTIVITY,
                )
            interval = min(interval * 2, self._timings.registry_poll_max)
        return result
