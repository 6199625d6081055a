"""PostgreSQL and Temporal, as `jieya dev` runs them, come back after a SIGKILL."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

import asyncpg
import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from kernel.settings import Settings
from workers.dev.embedded_pg import EmbeddedPostgres
from workers.dev.pieces import postgres_spec, temporal_answers, temporal_spec
from workers.dev.procs import free_port
from workers.dev.supervisor import Child, Supervisor


@pytest.fixture
async def supervisor(tmp_path: Path):
    sup = Supervisor(tmp_path / "logs", console=None, backoff_initial=0.2, backoff_max=1.0)
    yield sup
    await asyncio.wait_for(sup.stop(), 60)
    sup.close()


async def restarted(child: Child, old_pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not (child.restarts >= 1 and child.running and child.pid != old_pid):
        if time.monotonic() > deadline:
            pytest.fail(f"{child.name} not restarted within {timeout}s")
        await asyncio.sleep(0.1)


async def test_killed_postmaster_is_restarted_on_its_cluster(supervisor: Supervisor) -> None:
    base = Path(tempfile.mkdtemp(prefix="jieya-restart-pg-"))
    base.chmod(0o755)  # ours; the private case is tests/test_clone_anywhere.py's
    pg = await asyncio.to_thread(EmbeddedPostgres, base / "pg")
    try:
        child = await supervisor.start(postgres_spec(pg))
        await pg.ensure_database("jieya")
        conn = await asyncpg.connect(pg.asyncpg_dsn("jieya"), timeout=10)
        await conn.execute("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('before kill')")
        # The open session's backend outlives its postmaster and pins the shared memory,
        # the pidfile stays: the pre-spawn `prepare()` must clear both.
        assert child.pid is not None
        killed = child.pid
        os.kill(killed, signal.SIGKILL)
        await restarted(child, killed, 60)
        conn.terminate()
        await pg.wait_ready(timeout=60)
        conn = await asyncpg.connect(pg.asyncpg_dsn("jieya"), timeout=10)
        try:
            assert await conn.fetchval("SELECT v FROM kept") == "before kill"
        finally:
            await conn.close()
        assert supervisor.fatal is None
    finally:
        await supervisor.stop()
        pg.cleanup()
        shutil.rmtree(base, ignore_errors=True)


async def test_killed_temporal_comes_back_on_its_port_with_its_workflows(
    supervisor: Supervisor, tmp_path: Path
) -> None:
    port, ui_port = free_port(), free_port()
    address = f"127.0.0.1:{port}"
    child = await supervisor.start(temporal_spec(Settings(), tmp_path, port, ui_port))
    client = await Client.connect(address)
    # No worker serves this queue: the workflow just waits, in the SQLite file.
    await client.start_workflow("NobodyRunsThis", id="survivor", task_queue="nobody")
    assert child.pid is not None
    killed = child.pid
    os.kill(killed, signal.SIGKILL)
    await restarted(child, killed, 90)
    await asyncio.wait_for(temporal_answers(address, "default"), 30)

    # The client made before the kill carries on: that is what the worker and API rely on.
    described = await client.get_workflow_handle("survivor").describe()
    assert described.status == WorkflowExecutionStatus.RUNNING
    assert supervisor.fatal is None
