"""The guarantor release confirmation step, added behind `workflow.patched`:
new cases with a guarantor run it; histories recorded before it still replay."""

from __future__ import annotations

import json
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from models.enums import CaseStatus
from models.loans import read_loans_csv, upsert_loans
from tests.utils.factories import approve_until_closed, loan_csv, new_facts, open_case, upload_all
from workflows.release_case import ReleaseCaseWorkflow

BEFORE = Path(__file__).parent / "histories" / "happy_before_guarantor.json"


async def test_history_recorded_before_the_step_still_replays():
    history = WorkflowHistory.from_json(BEFORE.stem, BEFORE.read_text())
    assert "confirm_guarantor_release" not in BEFORE.read_text()  # truly recorded before
    replayer = Replayer(workflows=[ReleaseCaseWorkflow], data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)


async def test_a_guaranteed_loan_gets_its_release_confirmation(case_worker, sessions):
    client, store, http = case_worker.client, case_worker.store, case_worker.http
    mail_log = case_worker.mail_log
    facts = new_facts(seed=301)
    csv = loan_csv(facts).splitlines()
    csv[0] += ",guarantor,guarantor_email"
    csv[1] += ",平安融资担保有限公司,release@guarantee.example"
    await upsert_loans(sessions, read_loans_csv("\n".join(csv) + "\n"))
    handle = await open_case(sessions, client, facts)
    await upload_all(sessions, store, handle, facts)
    final = await approve_until_closed(handle)
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
