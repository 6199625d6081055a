"""Who may take and decide which human task, stated once.

The `decide` update's validator (`workflows.decisions.DecisionRules`), the API's
claim check and its inbox filter (`api.claims`) all ask these functions, so a
person hears the same answer from the inbox, the claim and the workflow, and a
rule changes in one place. Pure (no I/O, no database): the workflow sandbox
imports it. A refusal is returned, not raised: the workflow raises it as an
`ApplicationError`, the API as an HTTP error, each in its own way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, TypeVar

from models.enums import CaseStatus, DecisionKind, Role, Step, TaskKind, TaskQueue


class RefusalKind(StrEnum):
    """Why a decision (or a take) is refused; the `decide` update's error type,
    which the API maps to its HTTP status and code (`api.errors`)."""

    FORBIDDEN = "Forbidden"
    WRONG_STATE = "WrongState"
    FOUR_EYES = "FourEyes"
    DUPLICATE = "DuplicateDecision"
    INVALID_DECISION = "InvalidDecision"
    COMMENT_REQUIRED = "CommentRequired"


@dataclass(frozen=True)
class Refusal:
    kind: RefusalKind
    message: str


# A tuple, not a set: messages list the roles in this order ("needs senior, admin").
SENIOR_ROLES: tuple[Role, ...] = (Role.SENIOR, Role.ADMIN)
DECIDERS: tuple[Role, ...] = tuple(r for r in Role if r.may_decide)
# Which roles take tasks from each queue.
QUEUE_TAKERS: dict[TaskQueue, tuple[Role, ...]] = {
    TaskQueue.OPERATOR: DECIDERS,
    TaskQueue.SENIOR: SENIOR_ROLES,
}
APPROVALS = frozenset({TaskKind.APPROVAL, TaskKind.SECOND_APPROVAL})
# The second pair of eyes: an approval only a senior gives, and not one who approved before.
SECOND_EYES = frozenset({TaskKind.SECOND_APPROVAL})

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
_ENDINGS = frozenset({DecisionKind.REJECT, DecisionKind.CANCEL})


def queue_for(*, incident: bool, escalated: bool) -> TaskQueue:
    """Incidents start in the senior queue; any other task moves there at its deadline."""
    return TaskQueue.SENIOR if incident or escalated else TaskQueue.OPERATOR


def allowed_decisions(kind: TaskKind) -> frozenset[DecisionKind]:
    return ALLOWED_DECISIONS.get(kind, _REVIEW_ANSWERS)


class TaskRef(Protocol):
    task_id: str
    kind: TaskKind


T = TypeVar("T", bound=TaskRef)


def target_task(tasks: Sequence[T], decision: DecisionKind, task_id: str = "") -> T | None:
    """The open task a decision is for: the one named, else the first (main flow's
    task first, then incidents beside it) that takes this kind of decision."""
    if task_id:
        return next((t for t in tasks if t.task_id == task_id), None)
    fitting = [t for t in tasks if decision in allowed_decisions(t.kind)]
    return fitting[0] if fitting else (tasks[0] if tasks else None)


# --- taking a task (claim, assignment, and the first checks of a decision) ----------


@dataclass(frozen=True)
class Take:
    """What the take rules need to know of a task and its case."""

    kind: TaskKind
    queue: TaskQueue
    opened_by: str
    # Who already approved in this round: the second approval must come from someone else.
    approved_by: Sequence[str] = ()


def role_refusal(role: Role) -> Refusal | None:
    if not role.may_decide:
        return Refusal(RefusalKind.FORBIDDEN, f"role {role.value} may not decide cases")
    return None


def queue_refusal(role: Role, kind: TaskKind, queue: TaskQueue) -> Refusal | None:
    if role in QUEUE_TAKERS[queue]:
        return None
    why = "is an incident" if kind == TaskKind.INCIDENT else "passed its deadline and was escalated"
    return Refusal(RefusalKind.FORBIDDEN, f"this task {why}: it is in the {queue.value} queue")


def four_eyes_refusal(role: Role, actor: str, take: Take) -> Refusal | None:
    """Why `actor` may not approve: they opened the case, or this is the second
    approval and they are no senior or gave the first one."""
    if take.kind not in APPROVALS:
        return None
    if actor == take.opened_by:
        return Refusal(RefusalKind.FOUR_EYES, f"{actor} opened this case and may not approve it")
    if take.kind in SECOND_EYES:
        if role not in SENIOR_ROLES:
            return Refusal(RefusalKind.FOUR_EYES, "the second approval must come from a senior")
        if actor in take.approved_by:
            return Refusal(
                RefusalKind.FOUR_EYES, f"{actor} already approved; a different person must"
            )
    return None


def take_refusal(role: Role, actor: str, take: Take, approving: bool = True) -> Refusal | None:
    """Why `actor` may not take the task (None if they may). `approving=False` is for a
    reject or a request for documents, which the four-eyes rules do not restrict."""
    return (
        role_refusal(role)
        or queue_refusal(role, take.kind, take.queue)
        or (four_eyes_refusal(role, actor, take) if approving else None)
    )


def may_release(role: Role, actor: str, holder: str) -> bool:
    """A task goes back to its queue by its holder's hand, or a senior's."""
    return actor == holder or role in SENIOR_ROLES


@dataclass(frozen=True)
class Offer:
    """Which open tasks a role's inbox lists: those it could take to approve
    (the branch rule and "not if you opened the case" are not the inbox's)."""

    queues: frozenset[TaskQueue]
    # Never listed for this role.
    barred_kinds: frozenset[TaskKind]
    # Listed unless the caller already approved in the case.
    unless_approved: frozenset[TaskKind]

    @property
    def nothing(self) -> bool:
        return not self.queues


def inbox_offer(role: Role) -> Offer:
    if role_refusal(role) is not None:
        return Offer(frozenset(), frozenset(), frozenset())
    queues = frozenset(q for q, takers in QUEUE_TAKERS.items() if role in takers)
    senior = role in SENIOR_ROLES
    return Offer(
        queues=queues,
        barred_kinds=frozenset() if senior else SECOND_EYES,
        unless_approved=SECOND_EYES if senior else frozenset(),
    )


# --- answering a task (the `decide` validator only) -----------------------------------


@dataclass(frozen=True)
class Answer:
    """A decision on an open task, and what of the case bears on it."""

    kind: TaskKind
    decision: DecisionKind
    comment: str = ""
    # The step that gave up, when the task is an incident.
    incident_step: Step | None = None
    incident_skippable: bool = False
    incident_side: bool = False
    # The case is already closing: an incident now can only be retried (or skipped).
    closing: bool = False
    # The registry holds a live request: the case cannot be ended beside it.
    registry_busy: bool = False


def answer_refusal(answer: Answer) -> Refusal | None:
    """Why this task does not take this decision now (None if it does)."""
    decision, incident = answer.decision, answer.incident_step is not None
    allowed = allowed_decisions(answer.kind)
    if decision not in allowed:
        answers = ", ".join(sorted(d.value for d in allowed))
        return Refusal(
            RefusalKind.INVALID_DECISION,
            f"a {answer.kind.value} task takes {answers}, not {decision.value}",
        )
    needs_comment = NEEDS_COMMENT_ON_INCIDENT if incident else NEEDS_COMMENT
    if decision in needs_comment and not answer.comment.strip():
        return Refusal(RefusalKind.COMMENT_REQUIRED, f"{decision.value} needs a comment saying why")
    if decision == DecisionKind.SKIP and incident and not answer.incident_skippable:
        step = answer.incident_step.value if answer.incident_step else ""
        return Refusal(
            RefusalKind.INVALID_DECISION,
            f"step {step} cannot be skipped; retry it or end the case",
        )
    ending = decision in _ENDINGS
    if ending and incident and answer.closing:
        return Refusal(RefusalKind.WRONG_STATE, "the case is already closing; retry this step")
    if ending and incident and answer.incident_side and answer.registry_busy:
        return Refusal(
            RefusalKind.WRONG_STATE,
            "the registry is deregistering this vehicle; wait for its answer "
            "before ending the case (retry or skip this incident)",
        )
    return None


def nothing_expected(status: CaseStatus, task_id: str, any_open: bool) -> Refusal:
    """No open task fits the decision."""
    if task_id and any_open:
        return Refusal(RefusalKind.WRONG_STATE, f"task {task_id} is not open")
    return Refusal(RefusalKind.WRONG_STATE, f"case is {status.value}; no decision is expected now")
