"""Every committed history replays with today's workflow code, and a change that
breaks determinism is caught — by the Replayer and by `jieya replay`'s exit code."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.worker import Replayer

from kernel.case_history import from_file
from kernel.codec import decrypt_json
from models.enums import Milestone
from models.history_events import attributes, decode_payloads, event_kind
from models.payloads import CaseState, ReleaseCaseInput
from models.timeline import build_timeline
from tests.conftest import TEST_CONVERTER, TEST_KEYS, TEST_KEYS_FILE
from tests.histories.paths import PATHS
from tests.utils.processes import REPO_ROOT
from workers.commands.replay import COMMAND_EVENTS, build_replayer, replay_history
from workflows.release_case import ReleaseCaseWorkflow

HISTORIES = Path(__file__).resolve().parent / "histories"
RECORDED = sorted(HISTORIES.glob("*.json"))
RECORD_COMMAND = ".venv/bin/python -m tests.histories.record"


def test_every_case_path_has_a_recorded_history():
    missing = [name for name in PATHS if not (HISTORIES / f"{name}.json").exists()]
    assert not missing, f"record them: {RECORD_COMMAND} --only {','.join(missing)}"


@pytest.mark.parametrize("path", RECORDED, ids=[p.stem for p in RECORDED])
async def test_recorded_history_replays_with_todays_code(path: Path):
    outcome = await replay_history(from_file(path).history, build_replayer(TEST_KEYS))
    assert outcome.ok, (
        f"{outcome.describe()}\nIf the change is deliberate, guard it with "
        f"workflow.patched() and re-record: {RECORD_COMMAND}"
    )


@workflow.defn(name="ReleaseCaseWorkflow", sandboxed=False)
class ChecksTheLedgerFirst:
    """A rewrite that checks the ledger before anything else: no recorded case
    started so. (The SDK's error then names no event id, so replay bisects.)"""

    @workflow.run
    async def run(self, case: ReleaseCaseInput) -> None:
        await workflow.execute_activity(
            "verify_repayment", case.case_id, start_to_close_timeout=timedelta(seconds=30)
        )


@workflow.defn(name="ReleaseCaseWorkflow", sandboxed=False)
class WithoutTheApprovedNotice(ReleaseCaseWorkflow):
    """Today's workflow with one edit in the middle: the "approved" SMS is gone."""

    @workflow.run
    async def run(self, case: ReleaseCaseInput) -> CaseState:
        return await super().run(case)

    async def _notify(self, milestone: Milestone, *args, **kwargs) -> None:
        if milestone != Milestone.APPROVED:
            await super()._notify(milestone, *args, **kwargs)


def _first_command(events: list[dict]) -> dict:
    return next(e for e in events if event_kind(e) in COMMAND_EVENTS)


def _approved_notice(events: list[dict]) -> dict:
    for event in events:
        if event_kind(event) != "ActivityTaskScheduled":
            continue
        attrs = attributes(event)
        given = decode_payloads(attrs.get("input"))
        if (
            attrs["activityType"]["name"] == "notify_customer"
            and given[0]["milestone"] == "approved"
        ):
            return event
    raise AssertionError("the happy path history has no 'approved' notice")


def _replayer(workflow_class: type) -> Replayer:
    return Replayer(workflows=[workflow_class], data_converter=TEST_CONVERTER)


async def test_a_workflow_that_starts_differently_fails_at_the_first_command():
    loaded = from_file(HISTORIES / "happy.json")
    outcome = await replay_history(loaded.history, _replayer(ChecksTheLedgerFirst))
    assert not outcome.ok and "Nondeterminism" in outcome.message, outcome.describe()
    expected = _first_command(loaded.as_dict()["events"])
    assert outcome.event_id == int(expected["eventId"])
    assert outcome.workflow_id == loaded.case_id


async def test_an_edit_in_the_middle_is_located_at_the_event_it_breaks():
    loaded = from_file(HISTORIES / "happy.json")
    outcome = await replay_history(loaded.history, _replayer(WithoutTheApprovedNotice))
    assert not outcome.ok and "Nondeterminism" in outcome.message, outcome.describe()
    expected = _approved_notice(decrypt_json(loaded.as_dict(), TEST_KEYS)["events"])
    assert (outcome.event_id, outcome.event_type, outcome.event_name) == (
        int(expected["eventId"]),
        "ActivityTaskScheduled",
        "notify_customer",
    )


def jieya_replay(*args: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess:
    # No JIEYA_* from the caller: a history file needs neither database nor Temporal.
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIEYA_")}
    env["PYTHONPATH"] = str(cwd)
    env["JIEYA_PAYLOAD_KEYS_FILE"] = str(TEST_KEYS_FILE)  # the histories are encrypted
    return subprocess.run(
        [sys.executable, "-m", "workers.cli", "replay", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_replays_a_file_and_prints_its_timeline():
    done = jieya_replay("--file", str(HISTORIES / "four_eyes.json"))
    assert done.returncode == 0, done.stdout + done.stderr
    case_id = from_file(HISTORIES / "four_eyes.json", TEST_KEYS).case_id
    assert done.stdout.startswith(f"OK {case_id}")
    decisions = [line for line in done.stdout.splitlines() if " decision " in line]
    assert len(decisions) == 2, done.stdout
    assert "by dave (operator)" in decisions[0] and "by bob (senior)" in decisions[1]
    assert "closed    workflow completed · COMPLETED" in done.stdout


def test_cli_exits_1_naming_case_and_event_when_the_workflow_was_edited(tmp_path):
    """A copy of the code base whose ReleaseCaseWorkflow waits a second before
    starting, as an unguarded edit would: replaying today's histories must fail."""
    for package in ("activities", "api", "kernel", "models", "simulators", "workers", "workflows"):
        shutil.copytree(
            REPO_ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    source = tmp_path / "workflows" / "release_case.py"
    code, edits = re.subn(
        r"(@workflow\.run\s+async def run\(self[^)]*\)[^:]*:\n)",
        r"\1        await workflow.sleep(1)  # the careless edit\n",
        source.read_text(),
    )
    assert edits == 1, "could not find ReleaseCaseWorkflow.run to edit"
    source.write_text(code)
    history = HISTORIES / "happy.json"
    done = jieya_replay("--file", str(history), "--no-timeline", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    case_id = from_file(history, TEST_KEYS).case_id
    first = _first_command(from_file(history).as_dict()["events"])
    assert f"NON-DETERMINISTIC {case_id}" in done.stdout
    assert f"at event {first['eventId']} {event_kind(first)}" in done.stdout


def test_cli_refuses_a_file_that_is_not_a_history(tmp_path):
    junk = tmp_path / "junk.json"
    junk.write_text('{"not": "a history"}')
    assert jieya_replay("--file", str(junk)).returncode == 2
    assert jieya_replay().returncode == 2  # neither CASE_ID, --file nor --all


@pytest.mark.slow
async def test_the_recorder_writes_histories_that_replay(tmp_path, database_url):
    """What re-recording runs: a real worker on the time-skipping server, for one
    quick path, into a scratch directory."""
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "tests.histories.record", "--only", "documents_timed_out"]
        + ["--out", str(tmp_path)],
        cwd=REPO_ROOT,
        env={**os.environ, "JIEYA_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    written = from_file(tmp_path / "documents_timed_out.json", TEST_KEYS)
    assert (await replay_history(written.history, build_replayer(TEST_KEYS))).ok
    assert build_timeline(decrypt_json(written.as_dict(), TEST_KEYS)).status == "CANCELLED"
