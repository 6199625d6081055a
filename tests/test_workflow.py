"""ReleaseCaseWorkflow on the time-skipping server, with the real activities
against real PostgreSQL, real OCR and the simulators as real processes."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest
from sqlalchemy import select
from temporalio.client import WorkflowUpdateFailedError

from kernel.case_client import signal_ledger_updated
from models.enums import CaseStatus, DecisionKind, DocType, RiskGrade, Role, TaskKind
from models.payloads import DecisionRequest
from models.tables import AuditEvent, Case, HumanTask, Notification
from tests.utils.factories import (
    document_png,
    insert_loan,
    new_facts,
    open_case,
    phone_for,
    upload,
    upload_all,
    wait_for_state,
)
from tests.utils.simulators import sim_faults
from workflows.decisions import FORBIDDEN, FOUR_EYES, WRONG_STATE
from workflows.release_case import ReleaseCaseWorkflow

RESULT_TIMEOUT = 120


@pytest.fixture(scope="module")
def stack(case_worker):
    return case_worker


def decision(kind: DecisionKind, actor: str = "dave", role: Role = Role.OPERATOR, **kw):
    return DecisionRequest(decision=kind, actor=actor, role=role, **kw)


async def ready_for(handle, kind: TaskKind):
    return await wait_for_state(
        handle,
        lambda s: (
            s.status == CaseStatus.AWAITING_APPROVAL and s.open_task and s.open_task.kind == kind
        ),
        timeout=90,
    )


async def result_of(handle):
    return await asyncio.wait_for(handle.result(), RESULT_TIMEOUT)


async def sms_to(stack, phone: str) -> list[str]:
    log = (await stack.http.get(f"{stack.sms}/_sim/log")).json()
    return [m["text"] for m in log if m["to"] == phone]


async def case_row(stack, case_id: str) -> Case:
    async with stack.sessions() as session:
        return await session.get(Case, case_id)


async def test_happy_path_reaches_completed_with_one_deregistration(stack):
    facts = new_facts(seed=101)
    await insert_loan(stack.sessions, facts)
    handle = await open_case(stack.sessions, stack.client, facts)
    await upload_all(stack.sessions, stack.store, handle, facts)

    state = await ready_for(handle, TaskKind.APPROVAL)
    await asyncio.wait_for(
        handle.execute_update(ReleaseCaseWorkflow.decide, decision(DecisionKind.APPROVE)), 30
    )
    if state.risk.required_approvals == 2:
        await ready_for(handle, TaskKind.SECOND_APPROVAL)
        await handle.execute_update(
            ReleaseCaseWorkflow.decide, decision(DecisionKind.APPROVE, "bob", Role.SENIOR)
        )
    final = await result_of(handle)

    assert final.status == CaseStatus.COMPLETED
    row = await case_row(stack, handle.id)
    assert row.status == CaseStatus.COMPLETED and row.closed_at is not None
    records = (await stack.http.get(f"{stack.registry}/_sim/deregistrations")).json()
    assert len([r for r in records if r["request"]["case_ref"] == handle.id]) == 1
    texts = await sms_to(stack, phone_for(facts))
    assert len(texts) == 3 and "已受理" in texts[0] and "已注销" in texts[-1]
    async with stack.sessions() as session:
        events = (
            (await session.exec(select(AuditEvent).where(AuditEvent.stream == handle.id)))
            .scalars()
            .all()
        )
    assert {"decision.approve", "status.completed", "risk.assessed"} <= {e.event for e in events}


async def test_unsettled_loan_waits_for_the_ledger_then_continues(stack):
    facts = new_facts(seed=102)
    await insert_loan(stack.sessions, facts, settled=False)
    handle = await open_case(stack.sessions, stack.client, facts)
    await upload_all(stack.sessions, stack.store, handle, facts)
    await wait_for_state(handle, lambda s: s.step == "waiting_for_settlement")

    await insert_loan(stack.sessions, facts, settled=True)
    assert await signal_ledger_updated(stack.client, [handle.id], facts.contract_no) == 1
    state = await ready_for(handle, TaskKind.APPROVAL)
    assert state.status == CaseStatus.AWAITING_APPROVAL


async def test_loan_never_settled_is_rejected_after_30_days(stack):
    facts = new_facts(seed=103)
    await insert_loan(stack.sessions, facts, settled=False)
    handle = await open_case(stack.sessions, stack.client, facts)
    await upload_all(stack.sessions, stack.store, handle, facts)
    final = await result_of(handle)
    assert final.status == CaseStatus.REJECTED
    assert (await case_row(stack, handle.id)).step == "not_settled"


async def test_operator_rejection_ends_the_case_and_tells_the_customer(stack):
    facts = new_facts(seed=104)
    await insert_loan(stack.sessions, facts)
    handle = await open_case(stack.sessions, stack.client, facts)
    await upload_all(stack.sessions, stack.store, handle, facts)
    await ready_for(handle, TaskKind.APPROVAL)
    await handle.execute_update(
        ReleaseCaseWorkflow.decide, decision(DecisionKind.REJECT, comment="印章不清晰")
    )
    final = await result_of(handle)
    assert final.status == CaseStatus.REJECTED
    assert any("印章不清晰" in t for t in await sms_to(stack, phone_for(facts)))


async def test_request_documents_loops_back_until_they_are_in(stack):
    facts = new_facts(seed=105)
    await insert_loan(stack.sessions, facts)
    handle = await open_case(stack.sessions, stack.client, facts)
    await upload_all(stack.sessions, stack.store, handle, facts)
    await ready_for(handle, TaskKind.APPROVAL)
    await handle.execute_update(
        ReleaseCaseWorkflow.decide,
        decision(DecisionKind.REQUEST_DOCUMENTS, documents=[DocType.ID_CARD], comment="照片模糊"),
    )
    state = await wait_for_state(handle, lambda s: s.status == CaseStatus.AWAITING_DOCUMENTS)
    assert state.missing_documents == [DocType.ID_CARD] and state.round == 2
    await upload(
        stack.sessions,
        stack.store,
        handle,
        DocType.ID_CARD,
        document_png(DocType.ID_CARD, facts, seed=9),
    )
    state = await ready_for(handle, TaskKind.APPROVAL)
    await handle.execute_update(ReleaseCaseWorkflow.decide, decision(DecisionKind.APPROVE))
    if state.risk.required_approvals == 2:
        await ready_for(handle, TaskKind.SECOND_APPROVAL)
        await handle.execute_update(
            ReleaseCaseWorkflow.decide, decision(DecisionKind.APPROVE, "bob", Role.SENIOR)
        )
    assert (await result_of(handle)).status == CaseStatus.COMPLETED
    texts = await sms_to(stack, phone_for(facts))
    assert any("身份证" in t and "补充" in t for t in texts)
    async with stack.sessions() as session:
        tasks = (
            (await session.exec(select(HumanTask).where(HumanTask.case_id == handle.id)))
            .scalars()
            .all()
        )
    approvals = [t.round for t in tasks if t.kind == TaskKind.APPROVAL]
    assert sorted(approvals) == [1, 2]


async def test_documents_never_arriving_cancel_the_case_after_14_days(stack):
    facts = new_facts(seed=106)
    await insert_loan(stack.sessions, facts)
    handle = await open_case(stack.sessions, stack.client, facts)
    final = await result_of(handle)
    assert final.status == CaseStatus.CANCELLED
    assert any("取消" in t for t in await sms_to(stack, phone_for(facts)))


async def _refusal(handle, request) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as failure:
        await asyncio.wait_for(handle.execute_update(ReleaseCaseWorkflow.decide, request), 30)
    return failure.value.cause.type


async def test_validator_refuses_bad_decisions_and_four_eyes_needs_a_senior(stack):
    facts = new_facts(seed=107)
    # Settled yesterday: too recent to trust, so the case needs two approvals.
    facts.settled_date = (date.today() - timedelta(days=1)).isoformat()
    await insert_loan(stack.sessions, facts)
    handle = await open_case(stack.sessions, stack.client, facts)
    assert await _refusal(handle, decision(DecisionKind.APPROVE)) == WRONG_STATE
    await upload_all(stack.sessions, stack.store, handle, facts)
    state = await ready_for(handle, TaskKind.APPROVAL)
    assert state.risk.grade == RiskGrade.MEDIUM and state.risk.required_approvals == 2
    assert (
        await _refusal(handle, decision(DecisionKind.APPROVE, "carol", Role.AUDITOR)) == FORBIDDEN
    )

    await handle.execute_update(ReleaseCaseWorkflow.decide, decision(DecisionKind.APPROVE))
    await ready_for(handle, TaskKind.SECOND_APPROVAL)
    assert (
        await _refusal(handle, decision(DecisionKind.APPROVE, "erin", Role.OPERATOR)) == FOUR_EYES
    )
    assert await _refusal(handle, decision(DecisionKind.APPROVE, "dave", Role.SENIOR)) == FOUR_EYES
    await handle.execute_update(
        ReleaseCaseWorkflow.decide, decision(DecisionKind.APPROVE, "bob", Role.SENIOR)
    )
    final = await result_of(handle)
    assert final.status == CaseStatus.COMPLETED and final.approvals == ["dave", "bob"]


async def test_opener_may_not_approve_their_own_case(stack):
    facts = new_facts(seed=108)
    await insert_loan(stack.sessions, facts)
    handle = await open_case(stack.sessions, stack.client, facts, opened_by="alice")
    await upload_all(stack.sessions, stack.store, handle, facts)
    await ready_for(handle, TaskKind.APPROVAL)
    assert await _refusal(handle, decision(DecisionKind.APPROVE, "alice")) == FOUR_EYES
    await handle.execute_update(ReleaseCaseWorkflow.decide, decision(DecisionKind.REJECT, "alice"))
    assert (await result_of(handle)).status == CaseStatus.REJECTED  # a reject by the opener ends it


async def test_an_approval_left_past_its_sla_is_reminded_then_escalated(stack):
    facts = new_facts(seed=109)
    await insert_loan(stack.sessions, facts)
    handle = await open_case(stack.sessions, stack.client, facts)
    await upload_all(stack.sessions, stack.store, handle, facts)
    state = await ready_for(handle, TaskKind.APPROVAL)
    task_id = state.open_task.task_id

    await stack.env.sleep(timedelta(hours=19))  # past 75 % of the 24 h SLA
    reminded = await _task_when(stack, task_id, lambda t: t.reminded_at is not None)
    assert reminded.escalated_at is None and reminded.queue == "operator"
    await stack.env.sleep(timedelta(hours=6))  # past the deadline
    escalated = await _task_when(stack, task_id, lambda t: t.escalated_at is not None)
    assert escalated.queue == "senior"
    assert (await case_row(stack, handle.id)).sla_breached

    mails = (await stack.http.get(f"{stack.mail_log}/_sim/log")).json()
    subjects = [m["subject"] for m in mails if handle.id in m["subject"]]
    assert any("即将超时" in s for s in subjects) and any("升级" in s for s in subjects)
    # Escalated: only the senior queue may decide now.
    assert await _refusal(handle, decision(DecisionKind.APPROVE)) == FORBIDDEN
    await handle.execute_update(
        ReleaseCaseWorkflow.decide, decision(DecisionKind.APPROVE, "bob", Role.SENIOR)
    )
    if state.risk.required_approvals == 2:
        await ready_for(handle, TaskKind.SECOND_APPROVAL)
        await handle.execute_update(
            ReleaseCaseWorkflow.decide, decision(DecisionKind.APPROVE, "root", Role.ADMIN)
        )
    assert (await result_of(handle)).status == CaseStatus.COMPLETED


async def _task_when(stack, task_id, predicate, timeout=30.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        async with stack.sessions() as session:
            task = await session.get(HumanTask, task_id)
        if task is not None and predicate(task):
            return task
        await asyncio.sleep(0.2)
    raise AssertionError(f"task {task_id} never reached the expected state: {task}")


async def test_a_mail_outage_never_holds_a_case_up_and_the_mail_goes_once(stack):
    facts = new_facts(seed=110)
    await insert_loan(stack.sessions, facts)
    borrower = f"{facts.contract_no.lower()}@example.com"
    async with sim_faults(stack.http, stack.mail_log, smtp_refuse="temporary"):
        handle = await open_case(stack.sessions, stack.client, facts, email=borrower)
        await upload_all(stack.sessions, stack.store, handle, facts)
        # The "received" e-mail is still being retried, yet the case is at its approval.
        await ready_for(handle, TaskKind.APPROVAL)
        async with stack.sessions() as session:
            mail = (
                await session.exec(
                    select(Notification).where(
                        Notification.case_id == handle.id, Notification.channel == "email"
                    )
                )
            ).scalar_one()
        assert mail.status == "pending" and "451" in (mail.last_error or "")

    async def delivered():
        log = (await stack.http.get(f"{stack.mail_log}/_sim/log")).json()
        return [m for m in log if borrower in m["to"]]

    for _ in range(300):
        if await delivered():
            break
        await asyncio.sleep(0.2)
    received = await delivered()
    assert len(received) == 1 and received[0]["duplicate_deliveries"] == 0
    assert len(await sms_to(stack, phone_for(facts))) == 1  # its SMS went once too


async def test_an_incident_alerts_the_senior_queue_by_mail(stack):
    facts = new_facts(seed=111)
    await insert_loan(stack.sessions, facts)
    async with sim_faults(stack.http, stack.sms, fail_keys=[":received:"]):
        handle = await open_case(stack.sessions, stack.client, facts)
        state = await wait_for_state(
            handle, lambda s: any(t.kind == TaskKind.INCIDENT for t in s.open_tasks)
        )

    async def alerts():
        log = (await stack.http.get(f"{stack.mail_log}/_sim/log")).json()
        return [m for m in log if handle.id in m["subject"] and "故障" in m["subject"]]

    for _ in range(150):
        if await alerts():
            break
        await asyncio.sleep(0.2)
    alert = (await alerts())[0]
    assert alert["to"] == ["senior-queue@jieya.local"] and "PermanentExternalError" in alert["text"]
    task = next(t for t in state.open_tasks if t.kind == TaskKind.INCIDENT)
    await handle.execute_update(
        ReleaseCaseWorkflow.decide,
        decision(DecisionKind.SKIP, "bob", Role.SENIOR, comment="已电话通知", task_id=task.task_id),
    )
