"""Read routes of the operator API under concurrent clients, over real HTTP.

    .venv/bin/python bench/api.py [--cases 2000] [--seconds 5] [--clients 1,10,50]

A fresh embedded PostgreSQL (migrated to head) seeded directly with `--cases`
cases, each with its risk grading, three documents read by OCR, its tasks and
decisions; a Temporal dev server; and `jieya api` as its own process, as in
production. Each client is one keep-alive HTTP/1.1 connection of its own making
a request as soon as the last one is answered, as an operator of one branch
(`GET /cases`, `GET /cases/{id}` over that branch's cases, `GET /tasks`).
Printed per route and number of clients: requests answered per second, the
latency percentiles each client saw, and the API process's CPU time per request
(the figure to watch on a busy machine: it does not depend on what else runs).

The clients speak HTTP over bare asyncio streams rather than through httpx: on a
small machine the load generator shares the CPU with the API, and a full client
library would measure itself as much as the server."""

from __future__ import annotations

import argparse
import asyncio
import random
import signal
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg  # noqa: E402
import psutil  # noqa: E402
from temporalio.testing import WorkflowEnvironment  # noqa: E402

from bench.database import bench_database  # noqa: E402
from bench.search import fill, percentile  # noqa: E402
from kernel.db import create_engine, session_factory  # noqa: E402
from kernel.temporal import CASE_STATUS_ATTR, RISK_GRADE_ATTR  # noqa: E402
from models.enums import Role  # noqa: E402
from models.operators import add_operator  # noqa: E402
from tests.utils.processes import start_process, stop_process  # noqa: E402
from workers.dev.binaries import temporal_cli_path  # noqa: E402
from workers.dev.procs import free_port  # noqa: E402

BRANCH = "SH"
WARM_UP_S = 1.0

# What a case has by the time people look at it: a risk grading for graded cases,
# three documents with their OCR readings, an open task while it waits for a
# person, a closed task and its decision once decided.
SEED_SQL = [
    """
    INSERT INTO risk_assessments (case_id, round, grade, reasons, required_approvals, created_at)
    SELECT case_id, 1, risk_grade,
           CASE WHEN risk_grade = 'LOW' THEN '[]'::jsonb
                ELSE jsonb_build_array('证件号码与台账不一致: ' || borrower_id_number) END,
           CASE WHEN risk_grade = 'HIGH' THEN 2 ELSE 1 END, created_at
    FROM cases WHERE risk_grade IS NOT NULL
    """,
    """
    INSERT INTO documents (document_id, case_id, doc_type, sha256, filename, media_type,
                           size_bytes, pages, uploaded_by, created_at)
    SELECT 'DOC-' || upper(substr(md5(case_id || t), 1, 12)), case_id, t,
           md5(case_id || t) || md5(t || case_id), t || '.jpg', 'image/jpeg',
           180000 + length(t) * 1000, 1, opened_by, created_at + interval '1 hour'
    FROM cases,
         unnest(ARRAY['settlement_certificate', 'id_card',
                      'vehicle_registration_certificate']) AS t
    WHERE status <> 'AWAITING_DOCUMENTS'
    """,
    """
    INSERT INTO ocr_results (document_id, case_id, sha256, doc_type, engine, fields,
                             needs_review, issues, mismatches, ms, created_at)
    SELECT d.document_id, d.case_id, d.sha256, d.doc_type, 'rapidocr',
           jsonb_build_object(
             'name', jsonb_build_object('value', c.borrower_name, 'confidence', 0.98, 'valid', true),
             'id_number', jsonb_build_object('value', c.borrower_id_number,
                                             'confidence', 0.97, 'valid', true),
             'plate_no', jsonb_build_object('value', c.plate_no, 'confidence', 0.95, 'valid', true),
             'vin', jsonb_build_object('value', c.vin, 'confidence', 0.96, 'valid', true)),
           false, '[]'::jsonb, '[]'::jsonb, 850, d.created_at + interval '1 minute'
    FROM documents d JOIN cases c USING (case_id)
    """,
    """
    INSERT INTO human_tasks (task_id, case_id, kind, state, round, queue, assignee, details,
                             due_at, created_at, closed_at)
    SELECT case_id || '-approval-1', case_id, 'approval',
           CASE WHEN status = 'AWAITING_APPROVAL' THEN 'open' ELSE 'closed' END, 1, 'operator',
           assignee,
           jsonb_build_object('grade', risk_grade, 'reasons', jsonb_build_array()),
           created_at + interval '2 days', created_at + interval '2 hours',
           CASE WHEN status = 'AWAITING_APPROVAL' THEN NULL
                ELSE created_at + interval '3 hours' END
    FROM cases WHERE status IN ('AWAITING_APPROVAL', 'DEREGISTERING', 'COMPLETED', 'REJECTED')
    """,
    """
    INSERT INTO decisions (decision_ref, case_id, task_id, actor, role, decision, comment,
                           created_at)
    SELECT case_id || '-approval-1:approve:' || opened_by, case_id, case_id || '-approval-1',
           opened_by || '-colleague', 'operator',
           CASE WHEN status = 'REJECTED' THEN 'reject' ELSE 'approve' END,
           '材料齐全', created_at + interval '3 hours'
    FROM cases WHERE status IN ('DEREGISTERING', 'COMPLETED', 'REJECTED')
    """,
]


async def seed(url: str, cases: int) -> list[str]:
    """`cases` cases with their documents, tasks and decisions; the ids of one branch's."""
    await fill(url, cases)
    conn = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        for statement in SEED_SQL:
            await conn.execute(statement)
        for table in ("risk_assessments", "documents", "ocr_results", "human_tasks", "decisions"):
            await conn.execute(f"ANALYZE {table}")
        rows = await conn.fetch("SELECT case_id FROM cases WHERE branch = $1", BRANCH)
        tasks = await conn.fetchval(
            "SELECT count(*) FROM human_tasks t JOIN cases c USING (case_id) "
            "WHERE t.state = 'open' AND c.branch = $1",
            BRANCH,
        )
    finally:
        await conn.close()
    print(f"branch {BRANCH}: {len(rows)} cases, {tasks} open tasks")
    return [row["case_id"] for row in rows]


class HttpConnection:
    """One keep-alive HTTP/1.1 connection that sends GETs and reads whole answers."""

    def __init__(self, host: str, port: int, token: str) -> None:
        self.host, self.port = host, port
        self.headers = f"Host: {host}:{port}\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(b"GET " + path.encode() + b" HTTP/1.1\r\n" + self.headers)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = None
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length is None:
            raise RuntimeError(f"answer to {path} without Content-Length")
        await self.reader.readexactly(length)
        return status

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()


@dataclass
class Result:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


async def load(host: str, port: int, token: str, paths, clients: int, seconds: float) -> Result:
    """`clients` connections requesting `paths()` back to back for `seconds`."""
    result = Result()
    end = time.perf_counter() + seconds

    async def client() -> None:
        connection = HttpConnection(host, port, token)
        try:
            while (now := time.perf_counter()) < end:
                status = await connection.get(paths())
                result.latencies_ms.append((time.perf_counter() - now) * 1000)
                if status != 200:
                    result.errors += 1
        finally:
            await connection.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    return result


async def main(cases: int, seconds: float, concurrency: list[int], profile: Path | None) -> None:
    with tempfile.TemporaryDirectory(prefix="jieya-bench-api-") as tmp:
        root = Path(tmp)
        async with AsyncExitStack() as exits:
            url = await bench_database(exits, root)
            case_ids = await seed(url, cases)
            engine = create_engine(url)
            exits.push_async_callback(engine.dispose)
            token = await add_operator(
                session_factory(engine), "bench-operator", Role.OPERATOR, branch=BRANCH
            )

            env = await WorkflowEnvironment.start_local(
                dev_server_existing_path=str(temporal_cli_path()),
                dev_server_extra_args=["--db-filename", str(root / "temporal.db")],
                search_attributes=[CASE_STATUS_ATTR, RISK_GRADE_ATTR],
                dev_server_log_level="error",
            )
            exits.push_async_callback(env.shutdown)
            port = free_port()
            # Under cProfile when asked: the profile is written when the API stops.
            profiling = ["-m", "cProfile", "-o", str(profile)] if profile else []
            api_proc, _ = start_process(
                [sys.executable, *profiling, "-m", "workers.cli", "api"],
                r"Uvicorn running on",
                timeout=60,
                env={
                    "JIEYA_DATABASE_URL": url,
                    "JIEYA_TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
                    "JIEYA_DATA_DIR": str(root),
                    "JIEYA_API_PORT": str(port),
                    "JIEYA_LOG_FORMAT": "json",
                },
                name="api",
            )
            exits.callback(stop_process, api_proc)
            if profile:
                # uvicorn re-raises the signal it stopped on; only SIGINT's default
                # (KeyboardInterrupt) still lets cProfile write its file.
                exits.callback(api_proc.wait, 30)
                exits.callback(api_proc.send_signal, signal.SIGINT)

            rng = random.Random(7)
            routes = {
                "GET /cases": lambda: "/api/v1/cases",
                "GET /cases/{id}": lambda: f"/api/v1/cases/{rng.choice(case_ids)}",
                "GET /tasks": lambda: "/api/v1/tasks",
            }
            api = psutil.Process(api_proc.pid)
            print(f"\n{cases} cases; {seconds:.0f} s per row after a 1 s warm-up; ms per request\n")
            print(
                f"{'route':<18}{'clients':>8}{'req/s':>9}{'p50':>8}{'p95':>8}{'p99':>8}"
                f"{'api cpu':>9}{'errors':>8}"
            )
            for label, paths in routes.items():
                for clients in concurrency:
                    await load("127.0.0.1", port, token, paths, clients, WARM_UP_S)
                    before = cpu_seconds(api)
                    result = await load("127.0.0.1", port, token, paths, clients, seconds)
                    ms = result.latencies_ms
                    cpu_ms = (cpu_seconds(api) - before) * 1000 / len(ms)
                    print(
                        f"{label:<18}{clients:>8}{len(ms) / seconds:>9.0f}"
                        f"{percentile(ms, 0.50):>8.1f}{percentile(ms, 0.95):>8.1f}"
                        f"{percentile(ms, 0.99):>8.1f}{cpu_ms:>9.2f}{result.errors:>8}"
                    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", default="1,10,50", help="comma-separated client counts")
    parser.add_argument("--profile", type=Path, help="run the API under cProfile, into this file")
    args = parser.parse_args()
    clients = [int(n) for n in args.clients.split(",")]
    asyncio.run(main(args.cases, args.seconds, clients, args.profile))
