"""A step that gives up becomes an incident in front of a person, never a Failed
workflow: time-skipping server, the real activities on real PostgreSQL, real OCR
and the simulators as real processes. The worker here has no SMTP server, as a
deployment that forgot one would."""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta
from types import SimpleNamespace

import pytest
import pytest_asyncio
from PIL import Image
from sqlalchemy import select
from temporalio.client import WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.worker import Replayer

from kernel.case_history import load_case_runs
from models.enums import CaseStatus, DecisionKind, DocType, RegistryOutcome, Role, Step, TaskKind
from models.loans import read_loans_csv, upsert_loans
from models.payloads import CaseTimings, DecisionRequest, RegistryResult
from models.tables import AuditEvent, Case, Decision, HumanTask, Notification
from tests.conftest import TEST_CONVERTER
from tests.utils.factories import (
    REQUIRED,
    approve_until_closed,
    document_png,
    insert_loan,
    loan_csv,
    new_facts,
    open_case,
    phone_for,
    upload,
    upload_all,
    wait_for_state,
)
from tests.utils.simulators import sim_faults
from workflows.decisions import COMMENT_REQUIRED, FORBIDDEN, INVALID_DECISION
from workflows.release_case import ReleaseCaseWorkflow

RESULT_TIMEOUT = 180
# The SMS gateway refuses it (a mainland mobile number never starts 10).
UNREACHABLE_PHONE = "10000000000"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(time_env, sessions, registry_sim, sms_sim, data_dir):
    from activities.adapters.storage import LocalDocumentStore
    from kernel.settings import Settings
    from tests.utils.workers import running_workers

    settings = Settings(
        env="test", data_dir=data_dir, registry_url=registry_sim, sms_url=sms_sim, ocr_concurrency=2
    )
    async with running_workers(time_env.client, settings, sessions) as http:
        yield SimpleNamespace(
            client=time_env.client,
            env=time_env,
            sessions=sessions,
            store=LocalDocumentStore(settings.documents_dir),
            http=http,
            registry=registry_sim,
            sms=sms_sim,
        )


def senior(kind: DecisionKind, comment: str = "", **fields) -> DecisionRequest:
    return DecisionRequest(decision=kind, actor="bob", role=Role.SENIOR, comment=comment, **fields)


async def decide(handle, request: DecisionRequest):
    return await asyncio.wait_for(handle.execute_update(ReleaseCaseWorkflow.decide, request), 30)


async def refusal(handle, request: DecisionRequest) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as failure:
        await decide(handle, request)
    return failure.value.cause.type


async def incident_on(handle, step: Step, timeout: float = 120):
    """The open incident task for `step`, once the case has opened it."""

    def found(state):
        return next((t for t in state.open_tasks if t.incident and t.incident.step == step), None)

    state = await wait_for_state(handle, lambda s: found(s) is not None, timeout=timeout)
    return state, found(state)


async def gone(handle, task_id: str):
    return await wait_for_state(
        handle, lambda s: all(t.task_id != task_id for t in s.open_tasks), timeout=60
    )


async def result_of(handle):
    return await asyncio.wait_for(handle.result(), RESULT_TIMEOUT)


async def row(stack, table, key):
    async with stack.sessions() as session:
        return await session.get(table, key, populate_existing=True)


async def task_row(stack, task_id: str, within_s: float = 30) -> HumanTask:
    """The task's row: the workflow knows a task a moment before its row is written."""
    for _ in range(int(within_s * 10)):
        if (found := await row(stack, HumanTask, task_id)) is not None:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"task {task_id} was never written")


async def upload_then_lose(stack, handle, doc_type, data: bytes) -> str:
    """An upload whose stored file is gone by the time OCR wants it."""
    from models.tables import Document

    sha = await stack.store.put(data)
    document_id = await upload(stack.sessions, stack.store, handle, doc_type, data)
    async with stack.sessions() as session:
        assert (await session.get(Document, document_id)).sha256 == sha
    (stack.store._path(sha)).unlink()
    return document_id


async def test_ocr_that_gives_up_opens_an_incident_and_retry_carries_on(stack):
    facts = new_facts(seed=401)
    await insert_loan(stack.sessions, facts)
    handle = await open_case(stack.sessions, stack.client, facts)
    lost = document_png(DocType.SETTLEMENT_CERTIFICATE, facts, seed=0)
    await upload_then_lose(stack, handle, DocType.SETTLEMENT_CERTIFICATE, lost)
    for index, doc_type in enumerate(REQUIRED[1:], start=1):
        await upload(
            stack.sessions, stack.store, handle, doc_type, document_png(doc_type, facts, index)
        )

    state, task = await incident_on(handle, Step.OCR_REVIEW)
    assert task.kind == TaskKind.INCIDENT and task.senior_only
    assert task.incident.error_type == "FileNotFoundError" and task.incident.attempts == 5
    assert state.status == CaseStatus.AWAITING_APPROVAL and state.step == "awaiting_incident"
    stored = await task_row(stack, task.task_id)
    assert stored.queue == "senior" and stored.details["step"] == "ocr_review"
    operator = DecisionRequest(decision=DecisionKind.RETRY, actor="dave", role=Role.OPERATOR)
    assert await refusal(handle, operator) == FORBIDDEN  # incidents are the senior queue's
    assert await refusal(handle, senior(DecisionKind.SKIP)) == COMMENT_REQUIRED

    await stack.store.put(lost)  # the file is back
    await decide(handle, senior(DecisionKind.RETRY))
    final = await approve_until_closed(handle)
    assert final.status == CaseStatus.COMPLETED
    async with stack.sessions() as session:
        events = [
            e.event
            for e in (await session.exec(select(AuditEvent).where(AuditEvent.stream == handle.id)))
            .scalars()
            .all()
        ]
    assert "decision.retry" in events and "incident.opened" in events


async def test_an_unreadable_document_skipped_goes_to_a_persons_review(stack):
    facts = new_facts(seed=402)
    await insert_loan(stack.sessions, facts)
    handle = await open_case(stack.sessions, stack.client, facts)
    await upload(stack.sessions, stack.store, handle, DocType.ID_CARD, b"%PDF-1.4 not really")
    for doc_type in (DocType.SETTLEMENT_CERTIFICATE, DocType.VEHICLE_REGISTRATION_CERTIFICATE):
        await upload(stack.sessions, stack.store, handle, doc_type, document_png(doc_type, facts))

    _, task = await incident_on(handle, Step.OCR_REVIEW)
    assert task.incident.error_type == "UnreadableDocument" and task.incident.attempts == 1
    assert task.incident.skippable
    await decide(handle, senior(DecisionKind.SKIP, "客户已到店核验身份证原件"))
    state = await wait_for_state(
        handle, lambda s: s.open_task is not None and s.open_task.kind == TaskKind.DOCUMENT_REVIEW
    )
    assert any("not read by OCR" in reason for reason in state.risk.reasons)
    assert (await approve_until_closed(handle)).status == CaseStatus.COMPLETED


async def test_reject_on_an_incident_closes_the_case_and_tells_the_customer(stack):
    facts = new_facts(seed=411)
    await insert_loan(stack.sessions, facts)
    handle = await open_case(stack.sessions, stack.client, facts)
    await upload(stack.sessions, stack.store, handle, DocType.ID_CARD, b"GIF89a not an image")
    for doc_type in (DocType.SETTLEMENT_CERTIFICATE, DocType.VEHICLE_REGISTRATION_CERTIFICATE):
        await upload(stack.sessions, stack.store, handle, doc_type, document_png(doc_type, facts))
    await incident_on(handle, Step.OCR_REVIEW)
    await decide(handle, senior(DecisionKind.REJECT, "身份证文件损坏，请重新申请"))
    final = await result_of(handle)
    assert final.status == CaseStatus.REJECTED and final.step == "rejected"
    log = (await stack.http.get(f"{stack.sms}/_sim/log")).json()
    assert any("身份证文件损坏" in m["text"] for m in log if m["to"] == phone_for(facts))


async def test_a_blank_page_as_id_card_ends_in_front_of_a_person(stack):
    facts = new_facts(seed=403)
    await insert_loan(stack.sessions, facts)
    handle = await open_case(stack.sessions, stack.client, facts)
    blank = io.BytesIO()
    Image.new("RGB", (1240, 1754), "white").save(blank, format="PNG")
    await upload(stack.sessions, stack.store, handle, DocType.ID_CARD, blank.getvalue())
    for doc_type in (DocType.SETTLEMENT_CERTIFICATE, DocType.VEHICLE_REGISTRATION_CERTIFICATE):
        await upload(stack.sessions, stack.store, handle, doc_type, document_png(doc_type, facts))

    state = await wait_for_state(handle, lambda s: s.open_task is not None, timeout=120)
    assert state.open_task.kind in (TaskKind.DOCUMENT_REVIEW, TaskKind.INCIDENT)
    description = await handle.describe()
    assert description.status == WorkflowExecutionStatus.RUNNING


async def test_a_refused_sms_is_an_incident_beside_a_case_that_goes_on(stack):
    facts = new_facts(seed=404)
    await insert_loan(stack.sessions, facts)
    handle = await open_case(stack.sessions, stack.client, facts, phone=UNREACHABLE_PHONE)

    state, task = await incident_on(handle, Step.NOTIFY_CUSTOMER)
    # The case did not wait for its "received" message.
    assert state.status == CaseStatus.AWAITING_DOCUMENTS and task.incident.side
    assert task.incident.error_type == "PermanentExternalError"
    assert await refusal(handle, senior(DecisionKind.APPROVE)) == INVALID_DECISION
    async with stack.sessions() as session:
        outbox = (
            (await session.exec(select(Notification).where(Notification.case_id == handle.id)))
            .scalars()
            .all()
        )
    assert [n.status for n in outbox if n.channel == "sms"] == ["failed"]

    await decide(handle, senior(DecisionKind.SKIP, "客户号码错误，已电话联系"))
    await gone(handle, task.task_id)
    await upload_all(stack.sessions, stack.store, handle, facts)
    await wait_for_state(handle, lambda s: s.open_task is not None, timeout=120)
    reject = DecisionRequest(decision=DecisionKind.REJECT, actor="dave", role=Role.OPERATOR)
    await decide(handle, reject.model_copy(update={"comment": "材料不符"}))
    # Its rejection message cannot go out either: another incident, skipped.
    _, again = await incident_on(handle, Step.NOTIFY_CUSTOMER)
    assert (await row(stack, Case, handle.id)).status == CaseStatus.REJECTED
    await decide(handle, senior(DecisionKind.SKIP, "已电话告知客户"))
    assert (await result_of(handle)).status == CaseStatus.REJECTED


async def test_cancel_on_an_incident_beside_the_flow_ends_the_case(stack):
    facts = new_facts(seed=405)
    await insert_loan(stack.sessions, facts)
    handle = await open_case(stack.sessions, stack.client, facts, phone=UNREACHABLE_PHONE)
    _, task = await incident_on(handle, Step.NOTIFY_CUSTOMER)
    assert await refusal(handle, senior(DecisionKind.CANCEL)) == COMMENT_REQUIRED
    await decide(handle, senior(DecisionKind.CANCEL, "客户无法联系，撤销申请"))
    # The withdrawal message fails the same way; while closing only skip or retry.
    _, last = await incident_on(handle, Step.NOTIFY_CUSTOMER)
    assert last.task_id != task.task_id
    assert await refusal(handle, senior(DecisionKind.REJECT, "x")) == "WrongState"
    await decide(handle, senior(DecisionKind.SKIP, "已电话告知"))
    final = await result_of(handle)
    assert final.status == CaseStatus.CANCELLED and final.step == "cancelled"
    assert (await row(stack, Case, handle.id)).status == CaseStatus.CANCELLED


async def test_the_guarantor_step_without_smtp_is_an_incident_that_can_be_skipped(stack):
    facts = new_facts(seed=406)
    csv = loan_csv(facts).splitlines()
    csv[0] += ",guarantor,guarantor_email"
    csv[1] += ",平安融资担保有限公司,release@guarantee.example"
    await upsert_loans(stack.sessions, read_loans_csv("\n".join(csv) + "\n"))
    handle = await open_case(stack.sessions, stack.client, facts)
    await upload_all(stack.sessions, stack.store, handle, facts)
    approving = asyncio.ensure_future(approve_until_closed(handle))
    try:
        _, task = await incident_on(handle, Step.GUARANTOR_RELEASE, timeout=180)
        assert task.incident.error_type == "NotConfigured" and task.incident.skippable
        await decide(handle, senior(DecisionKind.SKIP, "担保公司已书面确认，邮件另行发送"))
        final = await asyncio.wait_for(approving, RESULT_TIMEOUT)
    finally:
        approving.cancel()
    assert final.status == CaseStatus.COMPLETED


async def test_a_decision_is_recorded_before_the_case_acts_on_it(stack):
    facts = new_facts(seed=407)
    await insert_loan(stack.sessions, facts)
    handle = await open_case(stack.sessions, stack.client, facts)
    await upload_all(stack.sessions, stack.store, handle, facts)
    state = await wait_for_state(handle, lambda s: s.open_task is not None, timeout=120)
    task = state.open_task

    # PostgreSQL cannot store NUL: the decision cannot be recorded, so it is not taken.
    unrecordable = DecisionRequest(
        decision=DecisionKind.REJECT, actor="dave", role=Role.OPERATOR, comment="bad\x00comment"
    )
    with pytest.raises(WorkflowUpdateFailedError):
        await decide(handle, unrecordable)
    after = await handle.query(ReleaseCaseWorkflow.state)
    assert after.open_task == task and after.status == CaseStatus.AWAITING_APPROVAL
    assert (await task_row(stack, task.task_id)).state == "open"

    # A 64-character name (the longest an operator may have) is recorded in full.
    long_name = "d" * 64
    decision = DecisionRequest(
        decision=DecisionKind.REJECT, actor=long_name, role=Role.OPERATOR, comment="材料不符"
    )
    await decide(handle, decision)
    assert (await result_of(handle)).status == CaseStatus.REJECTED
    async with stack.sessions() as session:
        decisions = (
            (await session.exec(select(Decision).where(Decision.case_id == handle.id)))
            .scalars()
            .all()
        )
        audit = (
            (await session.exec(select(AuditEvent).where(AuditEvent.stream == handle.id)))
            .scalars()
            .all()
        )
    assert [d.actor for d in decisions] == [long_name]
    assert any(e.event == "decision.reject" and e.actor == long_name for e in audit)


async def test_an_escalated_task_keeps_reminding_the_senior_queue(stack):
    facts = new_facts(seed=408)
    await insert_loan(stack.sessions, facts)
    handle = await open_case(stack.sessions, stack.client, facts)
    await upload_all(stack.sessions, stack.store, handle, facts)
    state = await wait_for_state(handle, lambda s: s.open_task is not None, timeout=120)
    sla = state.open_task.due_at - (await task_row(stack, state.open_task.task_id)).created_at
    await stack.env.sleep(sla * 3 + timedelta(hours=1))

    async def overdue_events():
        async with stack.sessions() as session:
            events = (
                (
                    await session.exec(
                        select(AuditEvent.event).where(
                            AuditEvent.stream == handle.id, AuditEvent.event == "task.overdue"
                        )
                    )
                )
                .scalars()
                .all()
            )
        return len(events)

    for _ in range(100):
        if await overdue_events() >= 2:
            break
        await asyncio.sleep(0.2)
    assert await overdue_events() >= 2
    await decide(handle, senior(DecisionKind.REJECT, "长期未处理，关闭"))
    assert (await result_of(handle)).status == CaseStatus.REJECTED


async def _to_deregistration(stack, handle):
    """Approve whatever the case asks for until it reaches the registry (or an incident)."""
    while True:
        state = await wait_for_state(
            handle,
            lambda s: s.open_task is not None or s.status == CaseStatus.DEREGISTERING,
            timeout=120,
        )
        if state.status == CaseStatus.DEREGISTERING or state.open_task.kind == TaskKind.INCIDENT:
            return state
        second = state.open_task.kind == TaskKind.SECOND_APPROVAL or state.open_task.escalated
        who = (
            senior(DecisionKind.APPROVE)
            if second
            else DecisionRequest(decision=DecisionKind.APPROVE, actor="dave", role=Role.OPERATOR)
        )
        await decide(handle, who)
        await wait_for_state(handle, lambda s, t=state.open_task: s.open_task != t)


async def _deregistrations(stack, case_id: str) -> list:
    records = (await stack.http.get(f"{stack.registry}/_sim/deregistrations")).json()
    return [r for r in records if r["request"]["case_ref"] == case_id]


async def test_a_registry_refusal_is_an_incident_and_retry_submits_again(stack):
    facts = new_facts(seed=409)
    await insert_loan(stack.sessions, facts)
    handle = await open_case(stack.sessions, stack.client, facts)
    async with sim_faults(stack.http, stack.registry, fail_keys=[handle.id]):
        await upload_all(stack.sessions, stack.store, handle, facts)
        await _to_deregistration(stack, handle)
        _, task = await incident_on(handle, Step.SUBMIT_DEREGISTRATION)
        assert task.incident.error_type == "RegistryRefused" and not task.incident.skippable
        assert task.incident.attempts == 1  # a 4xx is final at once, not retried
        assert await refusal(handle, senior(DecisionKind.SKIP, "x")) == INVALID_DECISION
    # The registry would take it now (the reason it refused was fixed).
    await decide(handle, senior(DecisionKind.RETRY))
    assert (await result_of(handle)).status == CaseStatus.COMPLETED
    assert len(await _deregistrations(stack, handle.id)) == 1


async def test_a_registry_that_stays_pending_is_chased_daily_across_short_runs(stack):
    """Ten days PENDING: a follow-up task each day, the case continues as new when
    its history passes the budget, every run replays, and state carries over."""
    facts = new_facts(seed=410)
    await insert_loan(stack.sessions, facts)
    timings = CaseTimings(history_budget=300, registry_poll_max=timedelta(minutes=30))
    handle = await open_case(stack.sessions, stack.client, facts, timings=timings)
    async with sim_faults(stack.http, stack.registry, pending_vins=[facts.vin]):
        await upload_all(stack.sessions, stack.store, handle, facts)
        before = await _to_deregistration(stack, handle)
        for day in range(10):
            await stack.env.sleep(timedelta(hours=24, minutes=5))
            state = await wait_for_state(
                handle,
                lambda s: (
                    s.open_task is not None and s.open_task.kind == TaskKind.REGISTRY_FOLLOW_UP
                ),
                timeout=120,
            )
            task = await task_row(stack, state.open_task.task_id)
            assert "24 hours" in task.details["reason"] and task.details["outcome"] == "PENDING"
            await decide(handle, senior(DecisionKind.RETRY, f"第 {day + 1} 天，继续催办"))
            await wait_for_state(handle, lambda s, t=state.open_task: s.open_task != t)
        state = await handle.query(ReleaseCaseWorkflow.state)
        assert state.run > 1, "the case should have continued as new"
        assert state.approvals == before.approvals and state.documents == before.documents
        assert state.round == before.round and state.registry_key == before.registry_key
        # At last the registry answers, by its callback.
        await handle.signal(
            ReleaseCaseWorkflow.registry_result,
            RegistryResult(idempotency_key=state.registry_key, outcome=RegistryOutcome.COMPLETED),
        )
        final = await result_of(handle)
    assert final.status == CaseStatus.COMPLETED
    assert len(await _deregistrations(stack, handle.id)) == 1

    runs = [run.history for run in await load_case_runs(stack.client, None, handle.id)]
    assert len(runs) == state.run >= 2
    print(f"\n10 days PENDING: {len(runs)} runs, events {[len(h.events) for h in runs]}")
    replayer = Replayer(workflows=[ReleaseCaseWorkflow], data_converter=TEST_CONVERTER)
    for history in runs:
        assert len(history.events) < 2000, f"run {history.run_id}: {len(history.events)} events"
        await replayer.replay_workflow(history)
