"""Who may decide what, and when: the rules the `decide` update's validator
enforces, so no client can get a bad decision into a case's history. The API
asks the same questions (`target_task`, `allowed_decisions`) before it claims
a task, so a person hears the same answer from both."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from temporalio.exceptions import ApplicationError

from models.enums import CaseStatus, DecisionKind, Role, TaskKind
from models.payloads import DecisionRequest, OpenTask

FORBIDDEN = "Forbidden"
WRONG_STATE = "WrongState"
FOUR_EYES = "FourEyes"
DUPLICATE = "DuplicateDecision"
INVALID_DECISION = "InvalidDecision"
COMMENT_REQUIRED = "CommentRequired"

SENIOR_ROLES = (Role.SENIOR, Role.ADMIN)
APPROVALS = (TaskKind.APPROVAL, TaskKind.SECOND_APPROVAL)

_REVIEW_ANSWERS = frozenset(
    {DecisionKind.APPROVE, DecisionKind.REJECT, DecisionKind.REQUEST_DOCUMENTS}
)
# What each kind of task can be answered with.
ALLOWED_DECISIONS: dict[TaskKind, frozenset[DecisionKind]] = {
    TaskKind.DOCUMENT_REVIEW: _REVIEW_ANSWERS,
    TaskKind.APPROVAL: _REVIEW_ANSWERS,
    TaskKind.SECOND_APPROVAL: _REVIEW_ANSWERS,
    # approve: submit again after a refusal, or keep chasing a late answer;
    # retry: keep waiting on the same request.
    TaskKind.REGISTRY_FOLLOW_UP: _REVIEW_ANSWERS | {DecisionKind.RETRY, DecisionKind.CANCEL},
    TaskKind.INCIDENT: frozenset(
        {DecisionKind.RETRY, DecisionKind.SKIP, DecisionKind.REJECT, DecisionKind.CANCEL}
    ),
}
# Ending a case, or skipping a step, is explained in writing.
NEEDS_COMMENT = frozenset({DecisionKind.SKIP, DecisionKind.CANCEL})
NEEDS_COMMENT_ON_INCIDENT = frozenset({DecisionKind.SKIP, DecisionKind.REJECT, DecisionKind.CANCEL})


class DecisionRefused(ApplicationError):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message, type=kind, non_retryable=True)


class TaskRef(Protocol):
    task_id: str
    kind: TaskKind


T = TypeVar("T", bound=TaskRef)


def allowed_decisions(kind: TaskKind) -> frozenset[DecisionKind]:
    return ALLOWED_DECISIONS.get(kind, _REVIEW_ANSWERS)


def target_task(tasks: Sequence[T], decision: DecisionKind, task_id: str = "") -> T | None:
    """The open task a decision is for: the one named, else the first (main flow's
    task first, then incidents beside it) that takes this kind of decision."""
    if task_id:
        return next((t for t in tasks if t.task_id == task_id), None)
    fitting = [t for t in tasks if decision in allowed_decisions(t.kind)]
    return fitting[0] if fitting else (tasks[0] if tasks else None)


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
        if not request.role.may_decide:
            raise DecisionRefused(FORBIDDEN, f"role {request.role.value} may not decide cases")
        if request.request_id and request.request_id in self.seen_requests:
            raise DecisionRefused(DUPLICATE, f"decision {request.request_id} was already taken")
        task = target_task(self.tasks, request.decision, request.task_id)
        if task is None:
            if request.task_id and self.tasks:
                raise DecisionRefused(WRONG_STATE, f"task {request.task_id} is not open")
            raise DecisionRefused(
                WRONG_STATE, f"case is {self.status.value}; no decision is expected now"
            )
        if task.task_id in self.deciding:
            raise DecisionRefused(WRONG_STATE, "a decision on this task is already being processed")
        if (task.escalated or task.senior_only) and request.role not in SENIOR_ROLES:
            why = "is an incident" if task.senior_only else "passed its deadline and was escalated"
            raise DecisionRefused(FORBIDDEN, f"this task {why}: it is in the senior queue")
        self._check_answer(task, request)
        self._check_four_eyes(task, request)
        return task

    def _check_answer(self, task: OpenTask, request: DecisionRequest) -> None:
        decision = request.decision
        if decision not in allowed_decisions(task.kind):
            answers = ", ".join(sorted(d.value for d in allowed_decisions(task.kind)))
            raise DecisionRefused(
                INVALID_DECISION, f"a {task.kind.value} task takes {answers}, not {decision.value}"
            )
        incident = task.incident
        needs_comment = NEEDS_COMMENT_ON_INCIDENT if incident else NEEDS_COMMENT
        if decision in needs_comment and not request.comment.strip():
            raise DecisionRefused(COMMENT_REQUIRED, f"{decision.value} needs a comment saying why")
        if decision == DecisionKind.SKIP and incident and not incident.skippable:
            raise DecisionRefused(
                INVALID_DECISION,
                f"step {incident.step.value} cannot be skipped; retry it or end the case",
            )
        ending = decision in (DecisionKind.REJECT, DecisionKind.CANCEL)
        if ending and incident and self.closing:
            raise DecisionRefused(WRONG_STATE, "the case is already closing; retry this step")
        if ending and incident and incident.side and self.registry_busy:
            raise DecisionRefused(
                WRONG_STATE,
                "the registry is deregistering this vehicle; wait for its answer "
                "before ending the case (retry or skip this incident)",
            )

    def _check_four_eyes(self, task: OpenTask, request: DecisionRequest) -> None:
        if request.decision != DecisionKind.APPROVE or task.kind not in APPROVALS:
            return
        if request.actor == self.opened_by:
            raise DecisionRefused(
                FOUR_EYES, f"{request.actor} opened this case and may not approve it"
            )
        if task.kind == TaskKind.SECOND_APPROVAL:
            if request.role not in SENIOR_ROLES:
                raise DecisionRefused(FOUR_EYES, "the second approval must come from a senior")
            if request.actor in self.approvals:
                raise DecisionRefused(
                    FOUR_EYES, f"{request.actor} already approved; a different person must"
                )
