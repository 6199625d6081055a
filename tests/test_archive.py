"""Closed cases' histories outlive Temporal's retention: the archiver copies them
into PostgreSQL on the real dev server, and replay, export and the history
endpoint read them from there once Temporal has forgotten the case."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import pytest_asyncio
from sqlalchemy import select
from temporalio import workflow
from temporalio.client import WorkflowExecutionStatus
from temporalio.worker import Worker

from activities.archive_activities import HistoryArchiver, closed_cases_query
from kernel.case_history import from_file
from kernel.codec import decrypt_json
from kernel.db import create_engine, session_factory
from kernel.settings import CASES_TASK_QUEUE
from models.archive import ArchiveClosedCasesInput, save_history
from models.audit import append_event
from models.enums import Role
from models.operators import add_operator
from models.payloads import ReleaseCaseInput
from models.tables import Case, CaseHistory
from tests.conftest import TEST_KEYS, TEST_KEYS_FILE
from tests.utils.databases import fresh_database
from tests.utils.factories import insert_loan, new_facts, phone_for
from tests.utils.inprocess import FakeTemporal, in_process_api
from tests.utils.processes import REPO_ROOT
from workers.schedules import ARCHIVE_EVERY, ARCHIVE_SCHEDULE_ID, ensure_archive_schedule
from workflows.archive import ArchiveHistoriesWorkflow

RECORDED = REPO_ROOT / "tests" / "histories" / "happy.json"


@workflow.defn(name="ReleaseCaseWorkflow", sandboxed=False)
class StandInCase:
    """Stands in for a case: ends at once, or (opened by `nobody`) never."""

    @workflow.run
    async def run(self, case: ReleaseCaseInput) -> str:
        if case.opened_by == "nobody":
            await workflow.wait_condition(lambda: False)
        return case.case_id


@pytest_asyncio.fixture(loop_scope="session")
async def archive_db(database_url):
    url = await fresh_database(database_url, "jieya_archive")
    engine = create_engine(url)
    yield url, session_factory(engine)
    await engine.dispose()


async def _listed(client, case_ids: set[str], since: datetime) -> None:
    """Wait until visibility lists the closed stand-ins (it trails a little)."""
    for _ in range(100):
        found = {e.id async for e in client.list_workflows(closed_cases_query(since))}
        if case_ids <= found:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"visibility never listed {case_ids - found}")


async def test_the_archiver_keeps_closed_cases_only_and_once(dev_env, archive_db):
    _, sessions = archive_db
    client = dev_env.client
    queue = f"archive-test-{uuid.uuid4().hex[:8]}"
    since = datetime.now(UTC) - timedelta(minutes=1)
    closed = {f"RC-ARC{uuid.uuid4().hex[:8].upper()}" for _ in range(2)}
    running = f"RC-RUN{uuid.uuid4().hex[:8].upper()}"
    archiver = HistoryArchiver(client, sessions)
    async with Worker(
        client,
        task_queue=queue,
        workflows=[StandInCase, ArchiveHistoriesWorkflow],
        activities=[archiver.archive_closed_cases],
    ):
        for case_id in closed:
            await client.execute_workflow(
                "ReleaseCaseWorkflow",
                ReleaseCaseInput(case_id=case_id, loan_contract_no="T-1", opened_by="alice"),
                id=case_id,
                task_queue=queue,
            )
        still = await client.start_workflow(
            "ReleaseCaseWorkflow",
            ReleaseCaseInput(case_id=running, loan_contract_no="T-2", opened_by="nobody"),
            id=running,
            task_queue=queue,
        )
        await _listed(client, closed, since)
        request = ArchiveClosedCasesInput(since=since)
        first = await client.execute_workflow(
            ArchiveHistoriesWorkflow.run, request, id=f"archive-{queue}-1", task_queue=queue
        )
        again = await client.execute_workflow(
            ArchiveHistoriesWorkflow.run, request, id=f"archive-{queue}-2", task_queue=queue
        )
        await still.terminate("test over")
    async with sessions() as session:
        rows = {r.case_id: r for r in (await session.exec(select(CaseHistory))).scalars()}
    assert closed <= rows.keys() and running not in rows
    for case_id in closed:
        row = rows[case_id]
        assert row.status == WorkflowExecutionStatus.COMPLETED.name and row.closed_at is not None
        assert (
            row.events == len(row.history["events"]) and row.workflow_type == "ReleaseCaseWorkflow"
        )
    assert first.archived >= 2
    # Other tests' cases on this server may close in between; ours are never fetched twice.
    assert again.already_archived >= 2 and again.archived <= first.archived


async def test_the_archive_schedule_is_created_once_and_runs_on_the_case_queue(dev_env):
    client = dev_env.client
    try:
        await ensure_archive_schedule(client)
        handle = await ensure_archive_schedule(client)  # already there: brought up to date
        described = await handle.describe()
        assert described.id == ARCHIVE_SCHEDULE_ID
        assert described.schedule.spec.intervals[0].every == ARCHIVE_EVERY
        assert described.schedule.action.workflow == "ArchiveHistoriesWorkflow"
        assert described.schedule.action.task_queue == CASES_TASK_QUEUE
    finally:
        # The other modules' workers on this server need not serve it.
        await client.get_schedule_handle(ARCHIVE_SCHEDULE_ID).delete()


async def _forgotten_case(sessions) -> str:
    """A closed case that Temporal no longer has: its row, its audit trail, and
    the history the archiver kept (a recorded one)."""
    recorded = from_file(RECORDED)
    facts = new_facts()
    await insert_loan(sessions, facts)
    async with sessions() as session, session.begin():
        session.add(
            Case(
                case_id=recorded.case_id,
                loan_contract_no=facts.contract_no,
                borrower_name=facts.name,
                borrower_id_number=facts.id_number,
                borrower_phone=phone_for(facts),
                plate_no=facts.plate_no,
                vin=facts.vin,
                status="COMPLETED",
                step="mortgage_released",
                opened_by="alice",
            )
        )
        for index, event in enumerate(("case.opened", "status.completed")):
            await append_event(
                session,
                stream=recorded.case_id,
                event=event,
                actor="alice",
                details={"id_number": facts.id_number},
                event_key=f"{recorded.case_id}:test:{index}",
            )
        await save_history(
            session,
            case_id=recorded.case_id,
            run_id=recorded.run_id,
            workflow_type="ReleaseCaseWorkflow",
            status="COMPLETED",
            history=recorded.as_dict(),
            closed_at=datetime.now(UTC),
        )
    return recorded.case_id


def jieya(url: str, temporal: str, *args: str, cwd=REPO_ROOT) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIEYA_")}
    env.update(JIEYA_DATABASE_URL=url, JIEYA_TEMPORAL_ADDRESS=temporal, JIEYA_LOG_LEVEL="WARNING")
    env["JIEYA_PAYLOAD_KEYS_FILE"] = str(TEST_KEYS_FILE)  # the histories are encrypted
    return subprocess.run(
        [sys.executable, "-m", "workers.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_replay_and_export_read_the_archive_after_retention(dev_env, archive_db, tmp_path):
    url, sessions = archive_db
    case_id = await _forgotten_case(sessions)
    temporal = dev_env.client.service_client.config.target_host

    one = jieya(url, temporal, "replay", case_id)
    assert one.returncode == 0, one.stdout + one.stderr
    assert one.stdout.startswith(f"OK {case_id}") and "[history from archive]" in one.stdout
    # Temporal down altogether: the archive still answers.
    offline = jieya(url, "127.0.0.1:1", "replay", case_id, "--no-timeline")
    assert offline.returncode == 0, offline.stdout + offline.stderr
    assert "[history from archive]" in offline.stdout and "not reachable" in offline.stderr
    every = jieya(url, temporal, "replay", "--all")
    assert every.returncode == 0, every.stdout + every.stderr
    assert "replayed 1 case(s): 1 OK, 0 non-deterministic, 0 without history" in every.stdout

    exported = jieya(url, temporal, "case", "export", case_id, "--out", str(tmp_path))
    assert exported.returncode == 0, exported.stdout + exported.stderr
    document = json.loads((tmp_path / f"{case_id}.json").read_text())
    assert document["history_source"] == "archive" and document["replay"]["ok"]
    assert document["audit"]["verification"]["ok"] and len(document["audit"]["records"]) == 2
    # The auditor's file holds the history decrypted: it reads (and replays) without keys.
    readable = decrypt_json(from_file(RECORDED).as_dict(), TEST_KEYS)
    assert document["history"]["events"] == readable["events"]
    kinds = {entry["kind"] for entry in document["timeline"]["entries"]}
    assert {"started", "step", "decision", "closed"} <= kinds
    # An auditor can replay the file they kept.
    kept = jieya(url, temporal, "replay", "--file", str(tmp_path / f"{case_id}.json"))
    assert kept.returncode == 0, kept.stdout + kept.stderr


async def test_history_endpoint_serves_the_timeline_from_the_archive(archive_db, data_dir):
    url, sessions = archive_db
    case_id = await _forgotten_case(sessions)
    token = await add_operator(sessions, f"aud-{uuid.uuid4().hex[:6]}", Role.AUDITOR)
    async with in_process_api(url, data_dir, FakeTemporal()) as (api, _):
        response = await api.get(
            f"/api/v1/cases/{case_id}/history", headers={"Authorization": f"Bearer {token}"}
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert [e["event"] for e in body["data"]] == ["case.opened", "status.completed"]
    assert body["verification"]["ok"] and body["history_source"] == "archive"
    decisions = [e for e in body["timeline"]["entries"] if e["kind"] == "decision"]
    assert decisions and decisions[0]["actor"].startswith("dave")
    # Masked like every other view; the CLI and the export carry the full records.
    assert all("*" in e["details"]["id_number"] for e in body["data"])
