"""When a step gives up: the case opens an incident and a person decides.

A mixin of ReleaseCaseWorkflow (it uses the workflow's `_ask`, `_enter`,
`_status`, `_step`). `_guarded` runs one step; when its activity fails for good
the step becomes an incident task in the senior queue, and the person's answer
is carried out: `retry` runs the step again with a fresh attempt budget, `skip`
goes on without it (only where the step allows), `reject` / `cancel` end the
case (`CaseEnded`). Nothing ends the workflow as Failed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, RetryState
from temporalio.exceptions import TimeoutError as ActivityTimeout

with workflow.unsafe.imports_passed_through():
    from activities.failures import attempt_of
    from models.enums import DecisionKind, Step, TaskKind
    from models.payloads import Incident

T = TypeVar("T")

ENDING_DECISIONS = (DecisionKind.REJECT, DecisionKind.CANCEL)
MESSAGE_LIMIT = 500


class CaseEnded(Exception):
    """A person ended the case from an incident; the workflow closes it."""

    def __init__(self, decision: DecisionKind) -> None:
        super().__init__(decision.value)
        self.decision = decision


def failure_of(step: Step, error: ActivityError, side: bool) -> Incident:
    """What an incident says about an activity failure: its type, its message, how often."""
    cause = error.cause
    attempts = None
    if isinstance(cause, ApplicationError):
        error_type = cause.type or "ApplicationError"
        message = cause.message
        attempts = attempt_of(cause.details)
    elif isinstance(cause, ActivityTimeout):
        error_type = f"Timeout.{cause.type.name if cause.type else 'UNKNOWN'}"
        last = cause.cause
        message = f"{error_type}; last failure: {last}" if last else error_type
        if isinstance(last, ApplicationError):
            attempts = attempt_of(last.details)
    else:
        error_type = type(cause).__name__ if cause else "ActivityError"
        message = str(cause or error)
    if attempts is None:
        # A non-retryable failure on the first try, or a budget the server cut short.
        attempts = 1 if error.retry_state == RetryState.NON_RETRYABLE_FAILURE else 0
    return Incident(
        step=step,
        error_type=error_type,
        message=message[:MESSAGE_LIMIT],
        attempts=attempts,
        since=workflow.now(),
        skippable=step.skippable,
        side=side,
    )


class Incidents:
    async def _guarded(
        self,
        step: Step,
        run: Callable[[], Awaitable[T]],
        *,
        side: bool = False,
        failed: ActivityError | None = None,
    ) -> T | None:
        """`run()`'s result; None when a person skipped the step. `failed`: the
        first attempt already failed (steps run side by side report afterwards)."""
        while True:
            if failed is None:
                try:
                    return await run()
                except ActivityError as error:
                    if not self._resilient:
                        raise  # histories from before incidents ended here
                    failed = error
            incident = failure_of(step, failed, side)
            failed = None
            workflow.logger.warning(
                "step gave up; incident opened",
                extra={"step": step.value, "error_type": incident.error_type},
            )
            verdict = await self._resolve(incident)
            if verdict == DecisionKind.RETRY:
                continue
            if verdict == DecisionKind.SKIP:
                await self._event("incident.skipped", {"step": step.value})
                if side:  # the main flow may be waiting: nothing else carries it soon
                    await self._flush()
                return None
            raise CaseEnded(verdict)

    async def _resolve(self, incident: Incident) -> DecisionKind:
        """Put the incident in front of a person and wait for their answer. The
        main flow shows it as the case's status; an incident beside it does not."""
        resume = (self._status, self._step)
        verdict = await self._ask(
            TaskKind.INCIDENT, incident.model_dump(mode="json"), incident=incident
        )
        if not incident.side and verdict in (DecisionKind.RETRY, DecisionKind.SKIP):
            await self._enter(*resume)
        return verdict

    def _end_beside(self, decision: DecisionKind) -> None:
        """An incident beside the main flow ended the case: `run` stops the main flow."""
        if self._ending is None:
            self._ending = decision


def is_deadline(error: ActivityError) -> bool:
    """The activity's whole budget ran out (rather than it failing for good)."""
    return isinstance(error.cause, ActivityTimeout) or error.retry_state == RetryState.TIMEOUT
