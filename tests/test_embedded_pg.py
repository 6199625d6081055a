"""The embedded PostgreSQL: a real cluster in a temp dir, killed and restarted for real."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import asyncpg
import psutil
import pytest

from workers.dev.embedded_pg import EmbeddedPostgres, EmbeddedPostgresError, socket_dir_for

REPO_ROOT = Path(__file__).resolve().parents[1]


def server_processes(data_dir: Path) -> list[psutil.Process]:
    """Live postgres processes of this cluster (every one of them chdirs into it)."""
    found = []
    for proc in psutil.process_iter(["name"]):
        try:
            if (
                proc.info["name"] == "postgres"
                and proc.status() != psutil.STATUS_ZOMBIE
                and Path(proc.cwd()) == data_dir.resolve()
            ):
                found.append(proc)
        except psutil.Error:
            continue
    return found


@pytest.fixture
def pg_dir():
    """A cluster dir outside pytest's tmp root: as root the server runs as another user,
    and every pytest session start resets /tmp/pytest-of-root to 0700, locking it out."""
    base = Path(tempfile.mkdtemp(prefix="jieya-pgtest-"))
    base.chmod(0o755)  # ours: the server's user may enter it (the private case is tested apart)
    yield base / "pg"
    shutil.rmtree(base, ignore_errors=True)


async def eventually(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {timeout}s")
        await asyncio.sleep(0.1)


async def test_cluster_starts_serves_and_stops_without_leftovers(pg_dir: Path) -> None:
    pg = EmbeddedPostgres(pg_dir)
    async with pg:
        dsn = await pg.ensure_database("jieya")
        assert dsn == f"postgresql+asyncpg://postgres@127.0.0.1:{pg.port}/jieya"
        assert await pg.ensure_database("jieya") == dsn  # idempotent
        conn = await asyncpg.connect(pg.asyncpg_dsn("jieya"), timeout=10)
        try:
            assert await conn.fetchval("SHOW server_encoding") == "UTF8"
            assert await conn.fetchval("SELECT current_user") == "postgres"
            assert await conn.fetchval("SELECT '解押'::text") == "解押"
        finally:
            await conn.close()
        socket_dir = pg.socket_dir
        assert socket_dir is not None and any(socket_dir.glob(".s.PGSQL.*"))
        assert server_processes(pg.data_dir)
    assert server_processes(pg.data_dir) == []
    assert not socket_dir.exists()
    assert "database system is shut down" in pg.log_file.read_text()


async def test_restarts_after_postmaster_is_killed(pg_dir: Path) -> None:
    data_dir = pg_dir
    first = EmbeddedPostgres(data_dir)
    first.start()
    try:
        await first.wait_ready(timeout=60)
        await first.ensure_database("jieya")
        conn = await asyncpg.connect(first.asyncpg_dsn("jieya"), timeout=10)
        await conn.execute("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('before kill')")
        # An open session keeps a backend around when its postmaster dies.
        assert first.pid is not None
        os.kill(first.pid, signal.SIGKILL)
        await asyncio.to_thread(first._proc.wait, 10)  # type: ignore[union-attr]
        conn.terminate()
        assert (data_dir / "postmaster.pid").exists()  # stale, as after a crash

        second = EmbeddedPostgres(data_dir)
        second.start()
        try:
            await second.wait_ready(timeout=60)
            conn = await asyncpg.connect(second.asyncpg_dsn("jieya"), timeout=10)
            try:
                assert await conn.fetchval("SELECT v FROM kept") == "before kill"
            finally:
                await conn.close()
        finally:
            second.stop()
    finally:
        first.stop()
    await eventually(lambda: not server_processes(data_dir), 10, "postgres processes gone")


async def test_refuses_to_start_on_a_cluster_that_is_running(pg_dir: Path) -> None:
    data_dir = pg_dir
    async with EmbeddedPostgres(data_dir) as running:
        intruder = EmbeddedPostgres(data_dir)
        intruder.shutdown_grace = 0.5
        with pytest.raises(EmbeddedPostgresError, match="already running"):
            await asyncio.to_thread(intruder.prepare)
        intruder.cleanup()
        # The running one was not disturbed.
        conn = await asyncpg.connect(running.asyncpg_dsn(), timeout=10)
        await conn.close()


async def test_server_goes_when_its_owner_is_killed(pg_dir: Path) -> None:
    data_dir = pg_dir
    owner_code = textwrap.dedent(
        f"""
        import asyncio, time
        from pathlib import Path
        from workers.dev.embedded_pg import EmbeddedPostgres
        pg = EmbeddedPostgres(Path({str(data_dir)!r}))
        pg.start()
        asyncio.run(pg.wait_ready(60))
        print("UP", pg.pid, flush=True)
        time.sleep(300)
        """
    )
    owner = await asyncio.create_subprocess_exec(
        sys.executable, "-c", owner_code, cwd=REPO_ROOT, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert owner.stdout is not None
        line = await asyncio.wait_for(owner.stdout.readline(), 90)
        assert line.startswith(b"UP"), line
        assert server_processes(data_dir)
        owner.kill()
        await asyncio.wait_for(owner.wait(), 10)
        await eventually(lambda: not server_processes(data_dir), 20, "postgres gone with owner")
    finally:
        if owner.returncode is None:
            owner.kill()
            await asyncio.wait_for(owner.wait(), 10)
        for proc in server_processes(data_dir):
            proc.kill()
        shutil.rmtree(socket_dir_for(data_dir), ignore_errors=True)
