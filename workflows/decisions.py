"""The `decide` update's validator: the rules of `models.rules` applied to the
workflow's own state, so no client can get a bad decision into a case's history.
The API's claim check and inbox ask the same rules, so a person hears the same
answer from both."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from temporalio.exceptions import ApplicationError

from models.enums import CaseStatus, DecisionKind
from models.payloads import DecisionRequest, OpenTask
from models.rules import (
    APPROVALS,
    SENIOR_ROLES,
    Answer,
    Refusal,
    RefusalKind,
    Take,
    allowed_decisions,
    answer_refusal,
    four_eyes_refusal,
    nothing_expected,
    queue_for,
    queue_refusal,
    role_refusal,
    target_task,
)

__all__ = [
    "APPROVALS",
    "COMMENT_REQUIRED",
    "DUPLICATE",
    "FORBIDDEN",
    "FOUR_EYES",
    "INVALID_DECISION",
    "SENIOR_ROLES",
    "WRONG_STATE",
    "DecisionRefused",
    "DecisionRules",
    "allowed_decisions",
    "target_task",
]

# The refusal types the API maps (`api.errors`), as plain strings on the wire.
FORBIDDEN = RefusalKind.FORBIDDEN.value
WRONG_STATE = RefusalKind.WRONG_STATE.value
FOUR_EYES = RefusalKind.FOUR_EYES.value
DUPLICATE = RefusalKind.DUPLICATE.value
INVALID_DECISION = RefusalKind.INVALID_DECISION.value
COMMENT_REQUIRED = RefusalKind.COMMENT_REQUIRED.value


class DecisionRefused(ApplicationError):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message, type=str(kind), non_retryable=True)

    @classmethod
    def of(cls, refusal: Refusal) -> DecisionRefused:
        return cls(refusal.kind.value, refusal.message)


@dataclass(frozen=True)
class DecisionRules:
    status: CaseStatus
    tasks: Sequence[OpenTask]
    approvals: list[str]
    deciding: frozenset[str]
    seen_requests: set[str]
    opened_by: str = ""
    # The registry holds a live request: the case cannot be ended beside it.
    registry_busy: bool = False
    # The case is already closing: an incident now can only be retried (or skipped).
    closing: bool = False

    def check(self, request: DecisionRequest) -> OpenTask:
        """The task `request` decides, or DecisionRefused saying why not."""
        if refusal := role_refusal(request.role):
            raise DecisionRefused.of(refusal)
        if request.request_id and request.request_id in self.seen_requests:
            raise DecisionRefused(DUPLICATE, f"decision {request.request_id} was already taken")
        task = target_task(self.tasks, request.decision, request.task_id)
        if task is None:
            raise DecisionRefused.of(
                nothing_expected(self.status, request.task_id, bool(self.tasks))
            )
        if task.task_id in self.deciding:
            raise DecisionRefused(WRONG_STATE, "a decision on this task is already being processed")
        queue = queue_for(incident=task.senior_only, escalated=task.escalated)
        refusal = (
            queue_refusal(request.role, task.kind, queue)
            or answer_refusal(self._answer(task, request))
            or self._four_eyes(task, request)
        )
        if refusal:
            raise DecisionRefused.of(refusal)
        return task

    def _answer(self, task: OpenTask, request: DecisionRequest) -> Answer:
        incident = task.incident
        return Answer(
            kind=task.kind,
            decision=request.decision,
            comment=request.comment,
            incident_step=incident.step if incident else None,
            incident_skippable=bool(incident and incident.skippable),
            incident_side=bool(incident and incident.side),
            closing=self.closing,
            registry_busy=self.registry_busy,
        )

    def _four_eyes(self, task: OpenTask, request: DecisionRequest) -> Refusal | None:
        if request.decision != DecisionKind.APPROVE:
            return None
        take = Take(
            kind=task.kind,
            queue=queue_for(incident=task.senior_only, escalated=task.escalated),
            opened_by=self.opened_by,
            approved_by=self.approvals,
        )
        return four_eyes_refusal(request.role, request.actor, take)
