"""The one rule source (`models.rules`): who may take and decide which task, and
the inbox offering exactly what a claim to approve would let through.

Pure functions: no database, no workflow. The validator, the claim check and the
inbox that use them are exercised by test_workflow, test_incidents, api_unit and
test_authz_matrix."""

from __future__ import annotations

import itertools

import pytest

from models.enums import DecisionKind, Role, Step, TaskKind, TaskQueue
from models.rules import (
    SENIOR_ROLES,
    Answer,
    RefusalKind,
    Take,
    answer_refusal,
    inbox_offer,
    may_release,
    queue_for,
    take_refusal,
    target_task,
)

FIRST = "ann"


def refused(role: Role, kind: TaskKind, queue: TaskQueue, actor: str = "zoe", **take) -> str:
    refusal = take_refusal(role, actor, Take(kind, queue, opened_by="olga", **take))
    return refusal.kind if refusal else "ok"


def test_roles_queues_and_four_eyes():
    assert refused(Role.AUDITOR, TaskKind.APPROVAL, TaskQueue.OPERATOR) == RefusalKind.FORBIDDEN
    assert refused(Role.OPERATOR, TaskKind.APPROVAL, TaskQueue.OPERATOR) == "ok"
    assert refused(Role.OPERATOR, TaskKind.APPROVAL, TaskQueue.SENIOR) == RefusalKind.FORBIDDEN
    assert refused(Role.SENIOR, TaskKind.INCIDENT, TaskQueue.SENIOR) == "ok"
    # The opener never approves; the second approval is a senior's who did not give the first.
    assert refused(Role.SENIOR, TaskKind.APPROVAL, TaskQueue.OPERATOR, actor="olga") == (
        RefusalKind.FOUR_EYES
    )
    second = TaskKind.SECOND_APPROVAL
    assert refused(Role.OPERATOR, second, TaskQueue.OPERATOR) == RefusalKind.FOUR_EYES
    assert refused(Role.ADMIN, second, TaskQueue.OPERATOR, approved_by=("zoe",)) == (
        RefusalKind.FOUR_EYES
    )
    assert refused(Role.ADMIN, second, TaskQueue.OPERATOR, approved_by=(FIRST,)) == "ok"
    # Rejecting is no approval: the opener may reject their own case.
    opener = Take(TaskKind.APPROVAL, TaskQueue.OPERATOR, opened_by="olga")
    assert take_refusal(Role.OPERATOR, "olga", opener, approving=False) is None


def test_messages_are_the_ones_people_read():
    incident = take_refusal(Role.OPERATOR, "zoe", Take(TaskKind.INCIDENT, TaskQueue.SENIOR, "o"))
    late = take_refusal(Role.OPERATOR, "zoe", Take(TaskKind.APPROVAL, TaskQueue.SENIOR, "o"))
    assert incident.message == "this task is an incident: it is in the senior queue"
    assert (
        late.message == "this task passed its deadline and was escalated: it is in the senior queue"
    )
    mine = take_refusal(Role.SENIOR, "o", Take(TaskKind.APPROVAL, TaskQueue.OPERATOR, "o"))
    assert mine.message == "o opened this case and may not approve it"


@pytest.mark.parametrize("role", list(Role))
def test_the_inbox_offers_what_a_claim_to_approve_lets_through(role):
    """For every kind, queue and "approved before": listed iff the take is allowed."""
    offer = inbox_offer(role)
    for kind, queue, approved in itertools.product(TaskKind, TaskQueue, (False, True)):
        approved_by = ("zoe",) if approved else (FIRST,)
        listed = (
            queue in offer.queues
            and kind not in offer.barred_kinds
            and not (approved and kind in offer.unless_approved)
        )
        allowed = refused(role, kind, queue, approved_by=approved_by) == "ok"
        assert listed == allowed, (role, kind, queue, approved)


def test_queue_and_release():
    assert queue_for(incident=True, escalated=False) == TaskQueue.SENIOR
    assert queue_for(incident=False, escalated=True) == TaskQueue.SENIOR
    assert queue_for(incident=False, escalated=False) == TaskQueue.OPERATOR
    assert may_release(Role.OPERATOR, "zoe", "zoe") and not may_release(Role.OPERATOR, "a", "b")
    assert all(may_release(role, "a", "b") for role in SENIOR_ROLES)


def test_answers():
    def answer(kind, decision, **facts):
        refusal = answer_refusal(Answer(kind=kind, decision=decision, **facts))
        return refusal.kind if refusal else "ok"

    incident = {"incident_step": Step.RISK_CHECK}
    assert answer(TaskKind.APPROVAL, DecisionKind.SKIP) == RefusalKind.INVALID_DECISION
    assert answer(TaskKind.INCIDENT, DecisionKind.REJECT, **incident) == (
        RefusalKind.COMMENT_REQUIRED
    )
    assert answer(TaskKind.APPROVAL, DecisionKind.REJECT) == "ok"  # no comment needed here
    assert answer(TaskKind.INCIDENT, DecisionKind.SKIP, comment="x", **incident) == (
        RefusalKind.INVALID_DECISION
    )
    assert answer(
        TaskKind.INCIDENT, DecisionKind.SKIP, comment="x", incident_skippable=True, **incident
    ) == ("ok")
    assert answer(
        TaskKind.INCIDENT, DecisionKind.CANCEL, comment="x", closing=True, **incident
    ) == (RefusalKind.WRONG_STATE)
    busy = {"incident_side": True, "registry_busy": True, **incident}
    assert answer(TaskKind.INCIDENT, DecisionKind.REJECT, comment="x", **busy) == (
        RefusalKind.WRONG_STATE
    )
    assert answer(TaskKind.INCIDENT, DecisionKind.RETRY, **busy) == "ok"


def test_target_task_prefers_the_named_then_the_fitting_task():
    class T:
        def __init__(self, task_id, kind):
            self.task_id, self.kind = task_id, kind

    main, side = T("a", TaskKind.APPROVAL), T("b", TaskKind.INCIDENT)
    assert target_task([main, side], DecisionKind.RETRY) is side
    assert target_task([main, side], DecisionKind.APPROVE) is main
    assert target_task([main, side], DecisionKind.APPROVE, "b") is side
    assert target_task([main], DecisionKind.SKIP) is main  # nothing fits: the validator says why
    assert target_task([main], DecisionKind.APPROVE, "zz") is None
