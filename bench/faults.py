"""Cases through the whole path of a real `jieya dev` stack while the world
misbehaves: the registry and the SMS gateway fail 20 % of requests (5xx), the
registry refuses 5 % of deregistrations for good (4xx) and delivers 20 % of its
callbacks twice and 20 % with a stale PENDING after the final one, and the
worker, the Temporal dev server and PostgreSQL are each killed with SIGKILL
once, mid-run.

    .venv/bin/python bench/faults.py [--cases 200] [--seed 7] [--keep]

Operators are played by this script over the HTTP API (approvals, document
reviews, second approvals); incidents and registry follow-ups are left for a
person, as the product intends. It prints: cases completed, cases at a human
task or incident (each with its reason), Failed workflows, duplicate
deregistrations and SMS, lost uploads, and what `jieya audit verify` and
`jieya doctor` say. `tests/test_faults.py` runs a small version in `make test`."""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.utils.factories import REQUIRED, document_png, loan_csv, new_facts, phone_for  # noqa: E402

STACK_TIMEOUT_S = 300
SETTLE_TIMEOUT_S = 1800
# Retries of one API call while a piece of the stack is down and coming back.
CALL_BUDGET_S = 180
PARKED_KINDS = {"incident", "registry_follow_up"}
OPERATOR_KINDS = {"document_review", "approval"}


@dataclass
class Faults:
    registry_5xx: float = 0.20
    registry_4xx: float = 0.05
    sms_5xx: float = 0.20
    duplicate_callbacks: float = 0.20
    stale_callbacks: float = 0.20
    kills: tuple[str, ...] = ("worker", "temporal", "postgres")


@dataclass
class Figures:
    cases: int
    completed: int = 0
    parked: dict[str, str] = field(default_factory=dict)  # case → the task a person must do
    other: dict[str, str] = field(default_factory=dict)  # case → where it stands (should be none)
    failed_workflows: int = 0
    duplicate_deregistrations: int = 0
    duplicate_sms: int = 0
    lost_uploads: int = 0
    uploads: int = 0
    audit_verify: str = ""
    audit_ok: bool = False
    doctor: str = ""
    kills: list[str] = field(default_factory=list)
    injected: dict[str, dict] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def accounted(self) -> bool:
        return not self.other and self.completed + len(self.parked) == self.cases

    @property
    def clean(self) -> bool:
        return (
            self.accounted
            and self.failed_workflows == 0
            and self.duplicate_deregistrations == 0
            and self.duplicate_sms == 0
            and self.lost_uploads == 0
            and self.audit_ok
        )


# --- the stack -----------------------------------------------------------------------


class Stack:
    """`jieya dev` as a child process, in its own data dir with free ports."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.env = {
            **os.environ,
            "JIEYA_DATA_DIR": str(data_dir),
            "JIEYA_API_PORT": "0",
            "JIEYA_TEMPORAL_PORT": "0",
            "JIEYA_TEMPORAL_UI_PORT": "0",
            "PYTHONUNBUFFERED": "1",
        }
        for name in ("JIEYA_DATABASE_URL", "JIEYA_TEMPORAL_ADDRESS"):
            self.env.pop(name, None)
        self.proc: subprocess.Popen | None = None
        self.urls: dict = {}
        self.tokens: dict[str, str] = {}

    async def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = (self.data_dir / "jieya-dev.out").open("w")
        self.proc = subprocess.Popen(  # noqa: ASYNC220 - starting it does not block
            [sys.executable, "-m", "workers.cli", "dev"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        seeded = self.data_dir / "demo" / ".cases-seeded"
        deadline = time.monotonic() + STACK_TIMEOUT_S
        while not seeded.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = (self.data_dir / "jieya-dev.out").read_text()[-3000:]
                raise RuntimeError(f"jieya dev did not come up:\n{tail}")
            await asyncio.sleep(0.5)
        self.urls = json.loads((self.data_dir / "dev-stack.json").read_text())
        credentials = json.loads((self.data_dir / "dev-credentials.json").read_text())
        self.tokens = {name: entry["token"] for name, entry in credentials.items()}

    def stop(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            return self.proc.wait(10)

    def piece(self, name: str) -> psutil.Process | None:
        """The running child that is `name`: worker, temporal or postgres (the postmaster)."""
        for child in psutil.Process(self.proc.pid).children(recursive=True):
            try:
                cmd = child.cmdline()
                if name == "worker" and cmd[-2:] == ["workers.cli", "worker"]:
                    return child
                if name == "temporal" and Path(cmd[0]).name == "temporal" and "start-dev" in cmd:
                    return child
                if (
                    name == "postgres"
                    and child.name() == "postgres"
                    and child.ppid() == self.proc.pid
                ):
                    return child
            except (psutil.Error, IndexError):
                continue
        return None

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "workers.cli", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
        )


# --- an operator's HTTP client that rides through outages ----------------------------


class Api:
    def __init__(self, http: httpx.AsyncClient, stack: Stack) -> None:
        self.http = http
        self.base = stack.urls["api"] + "/api/v1"
        self.tokens = stack.tokens

    async def call(self, method: str, path: str, who: str, **kwargs) -> httpx.Response:
        """The answer, retrying while the stack is coming back (connection refused, 5xx)."""
        headers = {"Authorization": f"Bearer {self.tokens[who]}", **kwargs.pop("headers", {})}
        deadline, delay = time.monotonic() + CALL_BUDGET_S, 0.5
        while True:
            try:
                response = await self.http.request(
                    method, self.base + path, headers=headers, **kwargs
                )
                if response.status_code < 500:
                    return response
            except httpx.TransportError:
                response = None
            if time.monotonic() > deadline:
                if response is None:
                    raise RuntimeError(f"{method} {path}: the API never came back")
                return response
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


# --- the run ----------------------------------------------------------------------


async def open_and_upload(api: Api, facts, gate: asyncio.Semaphore, uploads: dict) -> str:
    async with gate:
        body = {
            "loan_contract_no": facts.contract_no,
            "borrower": {
                "name": facts.name,
                "id_number": facts.id_number,
                "phone": phone_for(facts),
            },
            "vehicle": {"plate_no": facts.plate_no, "vin": facts.vin},
        }
        opened = await api.call(
            "POST", "/cases", "alice", json=body, headers={"Idempotency-Key": facts.contract_no}
        )
        if opened.status_code != 201:
            raise RuntimeError(f"opening {facts.contract_no}: {opened.status_code} {opened.text}")
        case_id = opened.json()["case_id"]
        for index, doc_type in enumerate(REQUIRED):
            data = await asyncio.to_thread(document_png, doc_type, facts, index)
            # The same bytes again are recognised, so a retry after a lost answer is harmless.
            stored = await api.call(
                "POST",
                f"/cases/{case_id}/documents",
                "alice",
                data={"doc_type": doc_type.value},
                files={"file": (f"{doc_type.value}.png", data, "image/png")},
            )
            if stored.status_code in (200, 201):
                uploads[stored.json()["document_id"]] = case_id
        return case_id


async def play_operators(api: Api, stop: asyncio.Event) -> None:
    """Approve what operators and seniors approve; leave incidents and follow-ups."""
    while not stop.is_set():
        for who, kinds in (("dave", OPERATOR_KINDS), ("bob", {"second_approval", *OPERATOR_KINDS})):
            try:
                listed = await api.call("GET", "/tasks?limit=200", who)
            except RuntimeError:
                continue
            if listed.status_code != 200:
                continue
            for task in listed.json()["data"]:
                if task["kind"] not in kinds:
                    continue
                await api.call(
                    "POST",
                    f"/cases/{task['case_id']}/decisions",
                    who,
                    json={"decision": "approve", "comment": "bench", "task_id": task["task_id"]},
                    headers={"Idempotency-Key": f"bench-{task['task_id']}"},
                )
        try:
            await asyncio.wait_for(stop.wait(), 1.0)
        except TimeoutError:
            pass


async def chaos(stack: Stack, api: Api, progress, faults: Faults, figures: Figures) -> None:
    """Kill each piece once, spread over the run, and time its recovery."""
    marks = [(i + 1) / (len(faults.kills) + 1) for i in range(len(faults.kills))]
    for mark, name in zip(marks, faults.kills, strict=True):
        while progress() < mark:  # noqa: ASYNC110 - progress is a count, not an event
            await asyncio.sleep(0.5)
        victim = stack.piece(name)
        if victim is None:
            figures.kills.append(f"{name}: not found")
            continue
        killed_at = time.monotonic()
        victim.send_signal(signal.SIGKILL)
        await _recovered(stack, api, name, victim.pid)
        figures.kills.append(
            f"{name} (pid {victim.pid}) back in {time.monotonic() - killed_at:.1f}s"
        )


async def _recovered(stack: Stack, api: Api, name: str, old_pid: int) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        piece = stack.piece(name)
        if piece is not None and piece.pid != old_pid:
            try:
                health = (await api.http.get(stack.urls["api"] + "/api/v1/healthz")).json()
                if health.get("database") and health.get("temporal"):
                    return
            except (httpx.HTTPError, ValueError):
                pass
        await asyncio.sleep(0.2)


async def settle(api: Api, case_ids: list[str]) -> dict[str, dict]:
    """Every case's view once each is closed or waiting on a person (twice in a row)."""
    deadline, calm = time.monotonic() + SETTLE_TIMEOUT_S, 0
    while True:
        views = {}
        for case_id in case_ids:
            views[case_id] = (await api.call("GET", f"/cases/{case_id}", "carol")).json()
        done = all(_closed(v) or _parked(v) for v in views.values())
        calm = calm + 1 if done else 0
        if calm >= 2 or time.monotonic() > deadline:
            return views
        await asyncio.sleep(3)


def _closed(view: dict) -> bool:
    return view.get("status") in ("COMPLETED", "REJECTED", "CANCELLED")


def _parked(view: dict) -> str | None:
    """The task a person must do on this case, if the bench's operators leave it."""
    for task in view.get("tasks", []):
        if task["state"] == "open" and task["kind"] in PARKED_KINDS:
            details = task["details"]
            if task["kind"] == "incident":
                return f"incident: {details.get('step')} gave up ({details.get('error_type')}: {str(details.get('message'))[:80]})"
            return f"registry follow-up: {details.get('reason')}"
    return None


async def account(stack: Stack, api: Api, views: dict, uploads: dict, figures: Figures) -> None:
    for case_id, view in views.items():
        if view.get("status") == "COMPLETED" and not _parked(view):
            figures.completed += 1
        elif reason := _parked(view):
            figures.parked[case_id] = reason
        elif _closed(view):
            figures.other[case_id] = f"closed {view['status']} ({view['step']})"
        else:
            figures.other[case_id] = f"{view.get('status')}/{view.get('step')}"
    figures.uploads = len(uploads)
    for document_id, case_id in uploads.items():
        known = {d["document_id"] for d in views[case_id].get("documents", [])}
        if document_id not in known:
            figures.lost_uploads += 1
    for view in views.values():  # stored, yet the case never moved on
        if view.get("status") == "AWAITING_DOCUMENTS" and len(view.get("documents", [])) >= 3:
            figures.lost_uploads += 1
    ours = set(views)
    records = (await api.http.get(stack.urls["registry"] + "/_sim/deregistrations")).json()
    per_case = collections.Counter(r["request"]["case_ref"] for r in records)
    figures.duplicate_deregistrations = sum(
        n - 1 for c, n in per_case.items() if c in ours and n > 1
    )
    texts = (await api.http.get(stack.urls["sms"] + "/_sim/log")).json()
    sent = collections.Counter(
        (m["to"], m["text"]) for m in texts if any(c in m["text"] for c in ours)
    )
    figures.duplicate_sms = sum(n - 1 for n in sent.values() if n > 1)
    for name in ("registry", "sms"):
        config = (await api.http.get(stack.urls[name] + "/_sim/config")).json()
        figures.injected[name] = config.get("injected", {})
    figures.failed_workflows = await _failed_workflows(stack)
    verify = stack.cli("audit", "verify")
    figures.audit_ok = verify.returncode == 0
    figures.audit_verify = (verify.stdout.strip().splitlines() or [verify.stderr.strip()])[-1]
    doctor = stack.cli("doctor")
    figures.doctor = f"exit {doctor.returncode}: " + " | ".join(
        doctor.stdout.strip().splitlines()[-3:]
    )


async def _failed_workflows(stack: Stack) -> int:
    from temporalio.client import Client

    client = await Client.connect(stack.urls["temporal"])
    query = "WorkflowType = 'ReleaseCaseWorkflow' AND ExecutionStatus = 'Failed'"
    return len([w async for w in client.list_workflows(query)])


async def run_fault_bench(
    cases: int, seed: int, data_dir: Path, faults: Faults | None = None, keep: bool = False
) -> Figures:
    faults = faults or Faults()
    figures = Figures(cases=cases)
    started = time.monotonic()
    stack = Stack(data_dir)
    await stack.start()
    try:
        async with httpx.AsyncClient(timeout=30, trust_env=False) as http:
            api = Api(http, stack)
            await http.post(
                stack.urls["registry"] + "/_sim/config",
                json={
                    "error_rate": faults.registry_5xx,
                    "refuse_rate": faults.registry_4xx,
                    "duplicate_callbacks": faults.duplicate_callbacks,
                    "out_of_order_callbacks": faults.stale_callbacks,
                    "seed": seed,
                },
            )
            await http.post(
                stack.urls["sms"] + "/_sim/config",
                json={"error_rate": faults.sms_5xx, "seed": seed},
            )
            everyone = [new_facts(seed * 100_000 + i) for i in range(cases)]
            ledger = loan_csv(everyone[0]) + "".join(
                loan_csv(f).split("\n", 1)[1] for f in everyone[1:]
            )
            imported = await api.call(
                "POST", "/loans/import", "bob", files={"file": ("loans.csv", ledger, "text/csv")}
            )
            assert imported.status_code == 200, imported.text
            uploads: dict[str, str] = {}
            stop = asyncio.Event()
            operators = asyncio.create_task(play_operators(api, stop))
            gate = asyncio.Semaphore(8)
            opening = [
                asyncio.create_task(open_and_upload(api, f, gate, uploads)) for f in everyone
            ]
            progress = lambda: len(uploads) / (3 * cases)  # noqa: E731
            killing = asyncio.create_task(chaos(stack, api, progress, faults, figures))
            case_ids = await asyncio.gather(*opening)
            await killing
            views = await settle(api, case_ids)
            stop.set()
            await operators
            await account(stack, api, views, uploads, figures)
    finally:
        figures.seconds = time.monotonic() - started
        if not keep:
            code = stack.stop()
            if code != 0:
                figures.other["jieya dev"] = f"exited {code} on Ctrl-C"
    return figures


def report(figures: Figures) -> str:
    lines = [
        f"cases                      {figures.cases} in {figures.seconds:.0f} s",
        f"completed                  {figures.completed}",
        f"at a human task/incident   {len(figures.parked)}",
    ]
    lines += [f"    {case}  {why}" for case, why in sorted(figures.parked.items())]
    lines.append(f"elsewhere (must be 0)      {len(figures.other)}")
    lines += [f"    {case}  {where}" for case, where in sorted(figures.other.items())]
    lines += [
        f"Failed workflows           {figures.failed_workflows}",
        f"duplicate deregistrations  {figures.duplicate_deregistrations}",
        f"duplicate SMS              {figures.duplicate_sms}",
        f"lost uploads               {figures.lost_uploads} of {figures.uploads}",
        f"audit verify               {'OK' if figures.audit_ok else 'FAILED'}: {figures.audit_verify}",
        f"jieya doctor               {figures.doctor}",
        f"kills                      {'; '.join(figures.kills)}",
        f"injected                   {json.dumps(figures.injected, sort_keys=True)}",
        f"verdict                    {'CLEAN' if figures.clean else 'NOT CLEAN'}",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="leave the stack running")
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="jieya-faults-"))
    figures = asyncio.run(run_fault_bench(args.cases, args.seed, data_dir, keep=args.keep))
    print(report(figures))
    print(f"data dir: {data_dir}")
    return 0 if figures.clean else 1


if __name__ == "__main__":
    sys.exit(main())
