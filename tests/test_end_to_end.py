"""The newcomer's path through the real processes of `jieya dev`, using only
the HTTP API — including a worker killed with SIGKILL mid-deregistration."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil
import pytest

from models.enums import DocType
from tests.utils.factories import REQUIRED, document_png, loan_csv, new_facts, phone_for
from tests.utils.processes import stop_process

pytestmark = pytest.mark.slow
STACK_TIMEOUT = 240


def _wait(predicate, timeout: float, what: str, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture(scope="module")
def dev_stack():
    # Outside pytest's tmp dir, which PostgreSQL's unprivileged user cannot enter.
    data_dir = Path(tempfile.mkdtemp(prefix="jieya-e2e-"))
    env = {
        **os.environ,
        "JIEYA_DATA_DIR": str(data_dir),
        "JIEYA_API_PORT": "0",
        "JIEYA_TEMPORAL_PORT": "0",
        "JIEYA_TEMPORAL_UI_PORT": "0",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("JIEYA_DATABASE_URL", None)
    log = (data_dir / "jieya-dev.out").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "dev"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        seeded = data_dir / "demo" / ".cases-seeded"

        def ready():
            if proc.poll() is not None:
                raise AssertionError(
                    f"jieya dev exited: {(data_dir / 'jieya-dev.out').read_text()[-3000:]}"
                )
            return seeded.exists()

        _wait(ready, STACK_TIMEOUT, "jieya dev to come up and seed")
        stack = json.loads((data_dir / "dev-stack.json").read_text())
        credentials = json.loads((data_dir / "dev-credentials.json").read_text())
        yield proc, stack, credentials
    finally:
        stop_process(proc, timeout=30)
        log.close()
        output = (data_dir / "jieya-dev.out").read_text()
        shutil.rmtree(data_dir, ignore_errors=True)
        assert proc.returncode == 0, output[-3000:]


def _auth(credentials, name):
    return {"Authorization": f"Bearer {credentials[name]['token']}"}


def _worker_processes(proc) -> list[psutil.Process]:
    found = []
    for child in psutil.Process(proc.pid).children(recursive=True):
        try:
            if child.cmdline()[-2:] == ["workers.cli", "worker"]:
                found.append(child)
        except psutil.Error:  # exited (or a zombie) while we looked
            continue
    return found


def test_newcomer_flow_survives_a_killed_worker(dev_stack):
    proc, stack, credentials = dev_stack
    api = httpx.Client(base_url=stack["api"], timeout=30)
    facts = new_facts()

    imported = api.post(
        "/api/v1/loans/import",
        headers=_auth(credentials, "bob"),
        files={"file": ("loans.csv", loan_csv(facts).encode(), "text/csv")},
    )
    assert imported.status_code == 200, imported.text

    opened = api.post(
        "/api/v1/cases",
        headers={**_auth(credentials, "alice"), "Idempotency-Key": facts.contract_no},
        json={
            "loan_contract_no": facts.contract_no,
            "borrower": {
                "name": facts.name,
                "id_number": facts.id_number,
                "phone": phone_for(facts),
            },
            "vehicle": {"plate_no": facts.plate_no, "vin": facts.vin},
        },
    )
    assert opened.status_code == 201, opened.text
    case_id = opened.json()["case_id"]
    for index, doc_type in enumerate(REQUIRED):
        uploaded = api.post(
            f"/api/v1/cases/{case_id}/documents",
            headers=_auth(credentials, "alice"),
            data={"doc_type": doc_type.value},
            files={
                "file": (f"{doc_type.value}.png", document_png(doc_type, facts, index), "image/png")
            },
        )
        assert uploaded.status_code == 201, uploaded.text

    def case():
        return api.get(f"/api/v1/cases/{case_id}", headers=_auth(credentials, "carol")).json()

    def open_task(kind):
        c = case()
        tasks = [t for t in c["tasks"] if t["state"] == "open" and t["kind"] == kind]
        return c["status"] == "AWAITING_APPROVAL" and tasks and c

    awaiting = _wait(lambda: open_task("approval"), 120, "the approval task")
    # Slow the registry down so the worker can be killed while DEREGISTERING.
    httpx.post(f"{stack['registry']}/_sim/config", json={"complete_after_s": 6}).raise_for_status()
    approvers = [("dave", "approval"), ("bob", "second_approval")][
        : awaiting["risk"]["required_approvals"]
    ]
    for name, kind in approvers:
        _wait(lambda k=kind: open_task(k), 60, f"the {kind} task")
        decided = api.post(
            f"/api/v1/cases/{case_id}/decisions",
            headers=_auth(credentials, name),
            json={"decision": "approve", "comment": "材料齐全"},
        )
        assert decided.status_code == 200, decided.text
    approved_at = time.monotonic()

    _wait(lambda: case()["status"] == "DEREGISTERING", 30, "DEREGISTERING")
    workers = _worker_processes(proc)
    assert len(workers) == 1, [w.cmdline() for w in workers]
    workers[0].send_signal(signal.SIGKILL)
    _wait(lambda: _worker_processes(proc), 60, "the supervisor to restart the worker")

    final = _wait(lambda: (c := case())["status"] in {"COMPLETED", "REJECTED"} and c, 90, "the end")
    elapsed = time.monotonic() - approved_at
    print(f"\nCOMPLETED {elapsed:.1f}s after the last approval (worker killed in between)")
    assert final["status"] == "COMPLETED"

    records = httpx.get(f"{stack['registry']}/_sim/deregistrations").json()
    assert len([r for r in records if r["request"]["case_ref"] == case_id]) == 1
    texts = [
        m["text"]
        for m in httpx.get(f"{stack['sms']}/_sim/log").json()
        if m["to"] == phone_for(facts)
    ]
    assert len(texts) == 3, texts
    assert all(DocType(d["doc_type"]) in REQUIRED for d in final["documents"])
