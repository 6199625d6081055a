"""Who may decide what, and when: the rules the `decide` update's validator
enforces, so no client can get a bad decision into a case's history."""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.exceptions import ApplicationError

from models.enums import CaseStatus, DecisionKind, Role, TaskKind
from models.payloads import DecisionRequest, OpenTask

FORBIDDEN = "Forbidden"
WRONG_STATE = "WrongState"
FOUR_EYES = "FourEyes"
DUPLICATE = "DuplicateDecision"

SENIOR_ROLES = (Role.SENIOR, Role.ADMIN)
APPROVALS = (TaskKind.APPROVAL, TaskKind.SECOND_APPROVAL)


class DecisionRefused(ApplicationError):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message, type=kind, non_retryable=True)


@dataclass(frozen=True)
class DecisionRules:
    status: CaseStatus
    task: OpenTask | None
    approvals: list[str]
    pending: bool
    seen_requests: set[str]
    opened_by: str = ""

    def check(self, request: DecisionRequest) -> None:
        if not request.role.may_decide:
            raise DecisionRefused(FORBIDDEN, f"role {request.role.value} may not decide cases")
        if request.request_id and request.request_id in self.seen_requests:
            raise DecisionRefused(DUPLICATE, f"decision {request.request_id} was already taken")
        if self.status != CaseStatus.AWAITING_APPROVAL or self.task is None:
            raise DecisionRefused(
                WRONG_STATE, f"case is {self.status.value}; no decision is expected now"
            )
        if self.pending:
            raise DecisionRefused(WRONG_STATE, "a decision on this task is already being processed")
        if self.task.escalated and request.role not in SENIOR_ROLES:
            raise DecisionRefused(
                FORBIDDEN, "this task passed its deadline and was escalated to the senior queue"
            )
        approving = request.decision == DecisionKind.APPROVE and self.task.kind in APPROVALS
        if approving and request.actor == self.opened_by:
            raise DecisionRefused(
                FOUR_EYES, f"{request.actor} opened this case and may not approve it"
            )
        if self.task.kind == TaskKind.SECOND_APPROVAL and request.decision == DecisionKind.APPROVE:
            if request.role not in SENIOR_ROLES:
                raise DecisionRefused(FOUR_EYES, "the second approval must come from a senior")
            if request.actor in self.approvals:
                raise DecisionRefused(
                    FOUR_EYES, f"{request.actor} already approved; a different person must"
                )
