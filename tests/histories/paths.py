"""The case paths whose histories we keep: each drives one case from opening to
its end, the way operators and the registry would, and returns its handle.

Adding a path: write an `async def` taking a `Stage`, decorate it with
`@case_path("name")`, and re-record; the replay test then covers it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, timedelta

import httpx
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.adapters.storage import LocalDocumentStore
from kernel.db import SessionFactory
from models.enums import CaseStatus, DecisionKind, DocType, Role, TaskKind
from models.payloads import CaseState, DecisionRequest
from tests.utils.factories import (
    document_png,
    insert_loan,
    new_facts,
    open_case,
    upload,
    upload_all,
    wait_for_state,
)
from workflows.release_case import ReleaseCaseWorkflow

RESULT_TIMEOUT = 180

# The default approval SLA is 24 hours; sleeping past it lets the reminder (at
# 75 %) and the escalation (at the deadline) fire before anyone decides.
PAST_APPROVAL_SLA = timedelta(hours=25)


@dataclass
class Stage:
    env: WorkflowEnvironment
    sessions: SessionFactory
    store: LocalDocumentStore
    http: httpx.AsyncClient
    registry_url: str
    sms_url: str = ""


CasePath = Callable[[Stage], Awaitable[WorkflowHandle]]
PATHS: dict[str, CasePath] = {}


def case_path(name: str) -> Callable[[CasePath], CasePath]:
    def register(drive: CasePath) -> CasePath:
        PATHS[name] = drive
        return drive

    return register


def decision(kind: DecisionKind, actor: str = "dave", role: Role = Role.OPERATOR, **kw):
    return DecisionRequest(decision=kind, actor=actor, role=role, **kw)


async def task_open(handle: WorkflowHandle, kind: TaskKind) -> CaseState:
    """Wait for a task of `kind`; a document review that OCR doubts on the way is accepted,
    so a path does not depend on how well OCR read one rendering."""
    while True:
        state = await wait_for_state(
            handle,
            lambda s: s.status == CaseStatus.AWAITING_APPROVAL and s.open_task is not None,
            timeout=120,
        )
        if state.open_task.kind == kind:
            return state
        if state.open_task.kind != TaskKind.DOCUMENT_REVIEW:
            raise AssertionError(f"expected a {kind.value} task, got {state.open_task.kind.value}")
        await decide(handle, decision(DecisionKind.APPROVE, comment="证件清晰"))
        await wait_for_state(handle, lambda s, done=state.open_task: s.open_task != done)


async def decide(handle: WorkflowHandle, request: DecisionRequest) -> None:
    await asyncio.wait_for(handle.execute_update(ReleaseCaseWorkflow.decide, request), 60)


async def opened(stage: Stage, seed: int, settled_days_ago: int = 20) -> tuple:
    facts = new_facts(seed=seed)
    facts.settled_date = (date.today() - timedelta(days=settled_days_ago)).isoformat()
    await insert_loan(stage.sessions, facts)
    handle = await open_case(stage.sessions, stage.env.client, facts)
    return facts, handle


async def finished(handle: WorkflowHandle, expected: CaseStatus) -> WorkflowHandle:
    final = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT)
    if final.status != expected:
        raise AssertionError(f"{handle.id} ended {final.status.value}, expected {expected.value}")
    return handle


@case_path("happy")
async def happy(stage: Stage) -> WorkflowHandle:
    facts, handle = await opened(stage, seed=201)
    await upload_all(stage.sessions, stage.store, handle, facts)
    await task_open(handle, TaskKind.APPROVAL)
    await decide(handle, decision(DecisionKind.APPROVE, comment="材料齐全"))
    return await finished(handle, CaseStatus.COMPLETED)


@case_path("rejected")
async def rejected(stage: Stage) -> WorkflowHandle:
    facts, handle = await opened(stage, seed=202)
    await upload_all(stage.sessions, stage.store, handle, facts)
    await task_open(handle, TaskKind.APPROVAL)
    await decide(handle, decision(DecisionKind.REJECT, comment="印章不清晰"))
    return await finished(handle, CaseStatus.REJECTED)


@case_path("request_documents")
async def request_documents(stage: Stage) -> WorkflowHandle:
    facts, handle = await opened(stage, seed=203)
    await upload_all(stage.sessions, stage.store, handle, facts)
    await task_open(handle, TaskKind.APPROVAL)
    await decide(
        handle,
        decision(DecisionKind.REQUEST_DOCUMENTS, documents=[DocType.ID_CARD], comment="照片模糊"),
    )
    await wait_for_state(handle, lambda s: s.status == CaseStatus.AWAITING_DOCUMENTS)
    again = document_png(DocType.ID_CARD, facts, seed=9)
    await upload(stage.sessions, stage.store, handle, DocType.ID_CARD, again)
    await task_open(handle, TaskKind.APPROVAL)
    await decide(handle, decision(DecisionKind.APPROVE, comment="已补充"))
    return await finished(handle, CaseStatus.COMPLETED)


@case_path("four_eyes")
async def four_eyes(stage: Stage) -> WorkflowHandle:
    # Settled yesterday: too recent to trust, so the case needs two approvals.
    facts, handle = await opened(stage, seed=204, settled_days_ago=1)
    await upload_all(stage.sessions, stage.store, handle, facts)
    await task_open(handle, TaskKind.APPROVAL)
    await decide(handle, decision(DecisionKind.APPROVE, comment="初审通过"))
    await task_open(handle, TaskKind.SECOND_APPROVAL)
    await decide(handle, decision(DecisionKind.APPROVE, "bob", Role.SENIOR, comment="复核通过"))
    return await finished(handle, CaseStatus.COMPLETED)


@case_path("sla_escalation")
async def sla_escalation(stage: Stage) -> WorkflowHandle:
    facts, handle = await opened(stage, seed=205)
    await upload_all(stage.sessions, stage.store, handle, facts)
    await task_open(handle, TaskKind.APPROVAL)
    await stage.env.sleep(PAST_APPROVAL_SLA)
    # Escalated tasks belong to the senior queue, so a senior decides.
    await task_open(handle, TaskKind.APPROVAL)
    await decide(handle, decision(DecisionKind.APPROVE, "bob", Role.SENIOR, comment="超时升级处理"))
    return await finished(handle, CaseStatus.COMPLETED)


@case_path("registry_rejection")
async def registry_rejection(stage: Stage) -> WorkflowHandle:
    facts, handle = await opened(stage, seed=206)
    await _registry_rejects(stage, [facts.vin])
    try:
        await upload_all(stage.sessions, stage.store, handle, facts)
        await task_open(handle, TaskKind.APPROVAL)
        await decide(handle, decision(DecisionKind.APPROVE, comment="材料齐全"))
        await task_open(handle, TaskKind.REGISTRY_FOLLOW_UP)
    finally:
        await _registry_rejects(stage, [])
    await decide(handle, decision(DecisionKind.REJECT, comment="车管所退回：车辆有查封"))
    return await finished(handle, CaseStatus.REJECTED)


@case_path("documents_timed_out")
async def documents_timed_out(stage: Stage) -> WorkflowHandle:
    _, handle = await opened(stage, seed=207)
    return await finished(handle, CaseStatus.CANCELLED)


@case_path("not_settled")
async def not_settled(stage: Stage) -> WorkflowHandle:
    facts = new_facts(seed=208)
    await insert_loan(stage.sessions, facts, settled=False)
    handle = await open_case(stage.sessions, stage.env.client, facts)
    await upload_all(stage.sessions, stage.store, handle, facts)
    return await finished(handle, CaseStatus.REJECTED)


async def _registry_rejects(stage: Stage, vins: list[str]) -> None:
    response = await stage.http.post(
        f"{stage.registry_url}/_sim/config", json={"reject_vins": vins}
    )
    response.raise_for_status()


async def _sim_config(stage: Stage, url: str, **knobs) -> None:
    response = await stage.http.post(f"{url}/_sim/config", json=knobs)
    response.raise_for_status()


def senior(kind: DecisionKind, comment: str = "") -> DecisionRequest:
    return decision(kind, "bob", Role.SENIOR, comment=comment)


async def incident_open(handle: WorkflowHandle, step) -> CaseState:
    return await wait_for_state(
        handle,
        lambda s: any(t.incident and t.incident.step == step for t in s.open_tasks),
        timeout=120,
    )


@case_path("incident_retried")
async def incident_retried(stage: Stage) -> WorkflowHandle:
    """The registry refuses the request (a 4xx): an incident; a senior retries once it is fixed."""
    from models.enums import Step

    facts, handle = await opened(stage, seed=209)
    await _sim_config(stage, stage.registry_url, fail_keys=[handle.id])
    try:
        await upload_all(stage.sessions, stage.store, handle, facts)
        await task_open(handle, TaskKind.APPROVAL)
        await decide(handle, decision(DecisionKind.APPROVE, comment="材料齐全"))
        await incident_open(handle, Step.SUBMIT_DEREGISTRATION)
    finally:
        await _sim_config(stage, stage.registry_url, fail_keys=[])
    await decide(handle, senior(DecisionKind.RETRY))
    return await finished(handle, CaseStatus.COMPLETED)


@case_path("message_skipped")
async def message_skipped(stage: Stage) -> WorkflowHandle:
    """The SMS gateway refuses the first message: an incident beside a case that goes on."""
    from models.enums import Step

    facts = new_facts(seed=210)
    await insert_loan(stage.sessions, facts)
    sms_url = stage.sms_url
    await _sim_config(stage, sms_url, fail_keys=[":received:"])
    try:
        handle = await open_case(stage.sessions, stage.env.client, facts)
        await incident_open(handle, Step.NOTIFY_CUSTOMER)
    finally:
        await _sim_config(stage, sms_url, fail_keys=[])
    await decide(handle, senior(DecisionKind.SKIP, "已电话通知客户"))
    await upload_all(stage.sessions, stage.store, handle, facts)
    await task_open(handle, TaskKind.APPROVAL)
    await decide(handle, decision(DecisionKind.APPROVE, comment="材料齐全"))
    return await finished(handle, CaseStatus.COMPLETED)


@case_path("continued_as_new")
async def continued_as_new(stage: Stage) -> WorkflowHandle:
    """The registry does not answer for two days: chased each day, and the case
    continues as new on the way (a small history budget), then completes."""
    from models.enums import RegistryOutcome
    from models.payloads import CaseTimings, RegistryResult

    facts = new_facts(seed=211)
    await insert_loan(stage.sessions, facts)
    timings = CaseTimings(history_budget=100, registry_poll_max=timedelta(minutes=30))
    handle = await open_case(stage.sessions, stage.env.client, facts, timings=timings)
    await _sim_config(stage, stage.registry_url, pending_vins=[facts.vin])
    try:
        await upload_all(stage.sessions, stage.store, handle, facts)
        await task_open(handle, TaskKind.APPROVAL)
        await decide(handle, decision(DecisionKind.APPROVE, comment="材料齐全"))
        for day in (1, 2):
            await stage.env.sleep(timedelta(hours=24, minutes=5))
            await task_open(handle, TaskKind.REGISTRY_FOLLOW_UP)
            await decide(handle, senior(DecisionKind.RETRY, f"第 {day} 天，继续催办"))
            await wait_for_state(handle, lambda s: s.open_task is None)
        state = await handle.query(ReleaseCaseWorkflow.state)
    finally:
        await _sim_config(stage, stage.registry_url, pending_vins=[])
    await handle.signal(
        ReleaseCaseWorkflow.registry_result,
        RegistryResult(idempotency_key=state.registry_key, outcome=RegistryOutcome.COMPLETED),
    )
    return await finished(handle, CaseStatus.COMPLETED)
