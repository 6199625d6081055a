"""The guarantor release confirmation step, added behind `workflow.patched`:
new cases with a guarantor run it; histories recorded before it still replay."""

from __future__ import annotations

import asyncio
import json
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest_asyncio
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from activities.adapters.storage import LocalDocumentStore
from kernel.settings import Settings
from models.enums import CaseStatus, DecisionKind, Role, TaskKind
from models.loans import read_loans_csv, upsert_loans
from models.payloads import DecisionRequest
from tests.utils.factories import loan_csv, new_facts, open_case, upload_all, wait_for_state
from workers.worker import Queue, build_workers
from workflows.release_case import ReleaseCaseWorkflow

BEFORE = Path(__file__).parent / "histories" / "happy_before_guarantor.json"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(time_env, sessions, registry_sim, sms_sim, mail_sim, data_dir):
    host, port, mail_log = mail_sim
    settings = Settings(
        env="test",
        data_dir=data_dir,
        registry_url=registry_sim,
        sms_url=sms_sim,
        smtp_host=host,
        smtp_port=port,
    )
    async with AsyncExitStack() as exits:
        http = await exits.enter_async_context(httpx.AsyncClient(timeout=10))
        for worker in build_workers(time_env.client, settings, sessions, http, Queue.ALL, exits):
            await exits.enter_async_context(worker)
        yield time_env.client, LocalDocumentStore(settings.documents_dir), http, mail_log


async def test_history_recorded_before_the_step_still_replays():
    history = WorkflowHistory.from_json(BEFORE.stem, BEFORE.read_text())
    assert "confirm_guarantor_release" not in BEFORE.read_text()  # truly recorded before
    replayer = Replayer(workflows=[ReleaseCaseWorkflow], data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)


async def test_a_guaranteed_loan_gets_its_release_confirmation(stack, sessions):
    client, store, http, mail_log = stack
    facts = new_facts(seed=301)
    csv = loan_csv(facts).splitlines()
    csv[0] += ",guarantor,guarantor_email"
    csv[1] += ",平安融资担保有限公司,release@guarantee.example"
    await upsert_loans(sessions, read_loans_csv("\n".join(csv) + "\n"))
    handle = await open_case(sessions, client, facts)
    await upload_all(sessions, store, handle, facts)
    while True:
        state = await wait_for_state(
            handle, lambda s: s.status.is_closed or s.open_task is not None, timeout=90
        )
        if state.status.is_closed:
            break
        senior = state.open_task.kind == TaskKind.SECOND_APPROVAL
        await handle.execute_update(
            ReleaseCaseWorkflow.decide,
            DecisionRequest(
                decision=DecisionKind.APPROVE,
                actor="bob" if senior else "dave",
                role=Role.SENIOR if senior else Role.OPERATOR,
            ),
        )
        await wait_for_state(handle, lambda s, t=state.open_task: s.open_task != t)
    final = await asyncio.wait_for(handle.result(), 60)
    assert final.status == CaseStatus.COMPLETED
    mails = (await http.get(f"{mail_log}/_sim/log")).json()
    letters = [m for m in mails if "release@guarantee.example" in json.dumps(m["to"])]
    assert len(letters) == 1 and facts.contract_no in letters[0]["subject"]
    history = await handle.fetch_history()
    markers = [e for e in history.events if e.HasField("marker_recorded_event_attributes")]
    activities = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    assert markers and "confirm_guarantor_release" in activities
