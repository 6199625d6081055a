"""The deregistration step of ReleaseCaseWorkflow: submit to the registry (车管所),
then wait for its signed callback or poll, and hand a refusal to a human.

A mixin so the workflow module stays one readable page; it runs only as part
of ReleaseCaseWorkflow and uses its state (`_case_id`, `_timings`, `_ask`…)."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.registry_activities import RegistryActivities
    from models.enums import CaseStatus, DecisionKind, RegistryOutcome, TaskKind
    from models.payloads import CheckDeregistrationInput, RegistryResult, SubmitDeregistrationInput
    from workflows.policies import EXTERNAL_ACTIVITY


class RegistryStep:
    async def _deregister(self) -> DecisionKind:
        attempt = 1
        while True:
            self._registry_key = f"{self._case_id}-dereg-{attempt}"
            await self._enter(CaseStatus.DEREGISTERING, "submitting_to_registry")
            result = await workflow.execute_activity_method(
                RegistryActivities.submit_deregistration,
                SubmitDeregistrationInput(
                    case_id=self._case_id,
                    idempotency_key=self._registry_key,
                    callback_url=self._timings.registry_callback_url,
                ),
                **EXTERNAL_ACTIVITY,
            )
            self._step = "waiting_for_registry"
            result = await self._wait_for_registry(result)
            if result.outcome == RegistryOutcome.COMPLETED:
                return DecisionKind.APPROVE
            verdict = await self._ask(
                TaskKind.REGISTRY_FOLLOW_UP, {"reason": result.reason, "key": self._registry_key}
            )
            if verdict != DecisionKind.APPROVE:
                return verdict
            attempt += 1  # approve on a follow-up means "submit again"

    async def _wait_for_registry(self, result: RegistryResult) -> RegistryResult:
        """Wait for the registry's callback signal, polling as a fallback."""
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
                    **EXTERNAL_ACTIVITY,
                )
            interval = min(interval * 2, self._timings.registry_poll_max)
        return result
