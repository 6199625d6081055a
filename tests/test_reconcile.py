"""The reconciler repairs what went wrong outside any one workflow: a start that
was lost, a row left open behind a closed workflow, a message nobody sent, an
upload its workflow never heard of, a case nobody moves. On the Temporal dev
server (it has visibility) with a database of its own, and `jieya doctor`
as a real process."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from datetime import timedelta
from types import SimpleNamespace

import pytest_asyncio
from sqlalchemy import select, update
from temporalio.client import WorkflowExecutionStatus

from kernel.case_client import case_handle, start_case
from kernel.db import create_engine, session_factory
from models.enums import CaseStatus, DocType, Step, TaskKind
from models.payloads import CaseTimings, ReleaseCaseInput
from models.reconcile import Check
from models.tables import AuditEvent, Case, Document, HumanTask, Notification, utcnow
from tests.conftest import TEST_KEYS_FILE
from tests.utils.databases import fresh_database
from tests.utils.factories import (
    document_png,
    insert_case_row,
    insert_loan,
    new_facts,
    wait_for_state,
)

TIMEOUT = 60


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(dev_env, database_url, registry_sim, sms_sim, data_dir):
    from activities.adapters.storage import LocalDocumentStore
    from kernel.settings import Settings
    from tests.utils.workers import running_workers
    from workers.worker import Queue, reconciler

    url = await fresh_database(database_url, "jieya_reconcile")
    engine = create_engine(url)
    sessions = session_factory(engine)
    settings = Settings(
        env="test", data_dir=data_dir, registry_url=registry_sim, sms_url=sms_sim, api_port=0
    )
    async with running_workers(dev_env.client, settings, sessions, Queue.CASES) as http:
        yield SimpleNamespace(
            client=dev_env.client,
            sessions=sessions,
            url=url,
            http=http,
            sms=sms_sim,
            store=LocalDocumentStore(settings.documents_dir),
            reconciler=reconciler(settings, dev_env.client, sessions, http),
        )
    await engine.dispose()


async def backdate(stack, case_id: str, by: timedelta) -> None:
    async with stack.sessions() as session, session.begin():
        await session.exec(
            update(Case)
            .where(Case.case_id == case_id)
            .values(updated_at=utcnow() - by, created_at=utcnow() - by)
        )


async def case_row(stack, case_id: str) -> Case:
    async with stack.sessions() as session:
        return await session.get(Case, case_id, populate_existing=True)


async def audit_events(stack, case_id: str) -> list[str]:
    async with stack.sessions() as session:
        rows = await session.exec(select(AuditEvent.event).where(AuditEvent.stream == case_id))
        return list(rows.scalars())


def finding_for(report, check: Check, case_id: str):
    return next((f for f in report.findings if f.check == check and f.case_id == case_id), None)


async def start(stack, case_id: str, contract_no: str, **timings):
    return await start_case(
        stack.client,
        ReleaseCaseInput(
            case_id=case_id,
            loan_contract_no=contract_no,
            opened_by="alice",
            timings=CaseTimings(**timings),
        ),
    )


async def test_a_lost_workflow_start_is_started(stack):
    facts = new_facts(seed=501)
    await insert_loan(stack.sessions, facts)
    case_id = await insert_case_row(stack.sessions, facts)
    await backdate(stack, case_id, timedelta(minutes=5))

    report = await stack.reconciler.run(repair=True)
    finding = finding_for(report, Check.WORKFLOW_MISSING, case_id)
    assert finding is not None and finding.repaired
    description = await case_handle(stack.client, case_id).describe()
    assert description.status == WorkflowExecutionStatus.RUNNING
    assert "reconcile.workflow_started" in await audit_events(stack, case_id)
    again = await stack.reconciler.run(repair=True)
    assert finding_for(again, Check.WORKFLOW_MISSING, case_id) is None


async def test_a_row_left_open_behind_a_closed_workflow_is_set_from_its_end(stack):
    facts = new_facts(seed=502)
    await insert_loan(stack.sessions, facts)
    case_id = await insert_case_row(stack.sessions, facts)
    # Documents never come: the workflow cancels the case after a second.
    handle = await start(stack, case_id, facts.contract_no, documents_deadline=timedelta(seconds=1))
    final = await asyncio.wait_for(handle.result(), TIMEOUT)
    assert final.status == CaseStatus.CANCELLED
    async with stack.sessions() as session, session.begin():  # as if its last write was lost
        await session.exec(
            update(Case)
            .where(Case.case_id == case_id)
            .values(status=CaseStatus.AWAITING_DOCUMENTS.value, step="waiting_for_documents")
        )
    await backdate(stack, case_id, timedelta(minutes=5))

    terminated_facts = new_facts(seed=503)
    await insert_loan(stack.sessions, terminated_facts)
    terminated = await insert_case_row(stack.sessions, terminated_facts)
    await (await start(stack, terminated, terminated_facts.contract_no)).terminate("by hand")
    await backdate(stack, terminated, timedelta(minutes=5))

    # Visibility is eventually consistent: a just-terminated run may still list as running.
    # On a busy machine (CI) the visibility store has taken over 10 s to catch up.
    report = await stack.reconciler.run(repair=True)
    for _ in range(90):
        if all(finding_for(report, Check.ROW_BEHIND, c) for c in (case_id, terminated)):
            break
        await asyncio.sleep(0.5)
        report.findings += (await stack.reconciler.run(repair=True)).findings
    assert finding_for(report, Check.ROW_BEHIND, case_id).repaired
    row = await case_row(stack, case_id)
    assert row.status == CaseStatus.CANCELLED and row.step == "documents_timed_out"
    assert finding_for(report, Check.ROW_BEHIND, terminated).repaired
    row = await case_row(stack, terminated)
    assert row.status == CaseStatus.CANCELLED and row.step == "workflow_terminated"
    assert "reconcile.row_repaired" in await audit_events(stack, terminated)


async def test_a_pending_outbox_message_is_resent_under_its_own_key(stack):
    facts = new_facts(seed=504)
    await insert_loan(stack.sessions, facts)
    case_id = await insert_case_row(stack.sessions, facts)
    key = f"{case_id}:received:1:sms:{uuid.uuid4().hex[:6]}"
    async with stack.sessions() as session, session.begin():
        session.add(
            Notification(
                dedupe_key=key,
                case_id=case_id,
                milestone="received",
                channel="sms",
                recipient="13800001111",
                body="您的解押申请已受理（补发）",
                status="pending",
                created_at=utcnow() - timedelta(minutes=3),
            )
        )
    report = await stack.reconciler.run(repair=True)
    assert finding_for(report, Check.OUTBOX_PENDING, case_id).repaired
    log = (await stack.http.get(f"{stack.sms}/_sim/log")).json()
    assert [m["idempotency_key"] for m in log].count(key) == 1
    async with stack.sessions() as session:
        row = (
            await session.exec(select(Notification).where(Notification.dedupe_key == key))
        ).scalar_one()
    assert row.status == "sent"
    again = await stack.reconciler.run(repair=True)
    assert finding_for(again, Check.OUTBOX_PENDING, case_id) is None


async def test_a_lost_upload_is_told_to_its_workflow(stack):
    facts = new_facts(seed=505)
    await insert_loan(stack.sessions, facts)
    case_id = await insert_case_row(stack.sessions, facts)
    handle = await start(stack, case_id, facts.contract_no)
    data = document_png(DocType.ID_CARD, facts)
    sha = await stack.store.put(data)
    document_id = f"DOC-{uuid.uuid4().hex[:12].upper()}"
    async with stack.sessions() as session, session.begin():  # stored, but the signal was lost
        session.add(
            Document(
                document_id=document_id,
                case_id=case_id,
                doc_type=DocType.ID_CARD.value,
                sha256=sha,
                filename="id.png",
                media_type="image/png",
                size_bytes=len(data),
                uploaded_by="alice",
                created_at=utcnow() - timedelta(minutes=3),
            )
        )
    report = await stack.reconciler.run(repair=True)
    assert finding_for(report, Check.LOST_UPLOAD, case_id).repaired
    state = await wait_for_state(handle, lambda s: document_id in s.seen_documents, timeout=30)
    assert state.documents["id_card"] == document_id


async def test_a_case_nobody_moves_becomes_an_incident(stack):
    facts = new_facts(seed=506)
    await insert_loan(stack.sessions, facts)
    case_id = await insert_case_row(stack.sessions, facts)
    handle = await start(stack, case_id, facts.contract_no)
    await wait_for_state(handle, lambda s: s.step == "waiting_for_documents", timeout=30)
    await asyncio.sleep(1)  # its "received" message has gone
    await backdate(stack, case_id, timedelta(days=15))  # idle past the documents deadline

    report = await stack.reconciler.run(repair=True)
    finding = finding_for(report, Check.STALLED, case_id)
    assert finding is not None and finding.repaired, report.findings
    state = await wait_for_state(
        handle,
        lambda s: any(t.incident and t.incident.step == Step.STALLED for t in s.open_tasks),
        timeout=30,
    )
    task = next(t for t in state.open_tasks if t.kind == TaskKind.INCIDENT)

    async def recorded():
        async with stack.sessions() as session:
            row = await session.get(HumanTask, task.task_id)
            return row is not None and row.queue == "senior"

    for _ in range(100):
        if await recorded():
            break
        await asyncio.sleep(0.1)
    assert await recorded()
    assert "reconcile.stall_reported" in await audit_events(stack, case_id)


async def test_doctor_reports_and_exits_1_then_0_once_repaired(stack):
    facts = new_facts(seed=507)
    await insert_loan(stack.sessions, facts)
    case_id = await insert_case_row(stack.sessions, facts)
    await backdate(stack, case_id, timedelta(minutes=5))
    env = {
        **os.environ,
        "JIEYA_DATABASE_URL": stack.url,
        "JIEYA_TEMPORAL_ADDRESS": stack.client.service_client.config.target_host,
        "JIEYA_DATA_DIR": "/nonexistent-jieya-doctor",
        "JIEYA_PAYLOAD_KEYS_FILE": str(TEST_KEYS_FILE),  # it queries workflows: their keys
    }

    async def doctor(*args: str) -> SimpleNamespace:
        # Not subprocess.run: this process's worker must keep answering while it runs.
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "workers.cli", "doctor", *args,
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        return SimpleNamespace(returncode=proc.returncode, stdout=out.decode(), stderr=err.decode())

    found = await doctor()
    assert found.returncode == 1, found.stdout + found.stderr
    assert "WRONG  workflow_missing" in found.stdout and case_id in found.stdout
    repaired = await doctor("--repair")
    assert "FIXED" in repaired.stdout and case_id in repaired.stdout, repaired.stdout
    # Other cases in this database are left as their tests made them; this one is well now.
    after = json.loads((await doctor("--json")).stdout)
    assert not [f for f in after["findings"] if f["case_id"] == case_id and not f["repaired"]], (
        after
    )
