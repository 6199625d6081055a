"""The audit trail against a rogue DBA: PostgreSQL refuses plain UPDATE and
DELETE, and whatever a superuser changes with the triggers switched off,
`jieya audit verify` names the first bad record."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
import pytest_asyncio

from kernel.db import create_engine, session_factory
from models.audit import append_event, event_hash
from models.audit_verify import BreakKind, verify_chains
from tests.utils.databases import fresh_database, plain_dsn
from tests.utils.factories import insert_case_row, insert_loan, new_facts
from tests.utils.processes import REPO_ROOT
from workers.commands.audit import audit_report


@pytest_asyncio.fixture(loop_scope="session")
async def audit_db(database_url) -> AsyncIterator[str]:
    """A database of its own per test: these tests break chains on purpose, and
    "every stream verifies" must not see another test's damage."""
    yield await fresh_database(database_url, "jieya_audit")


@pytest_asyncio.fixture(loop_scope="session")
async def audit_sessions(audit_db):
    engine = create_engine(audit_db)
    yield session_factory(engine)
    await engine.dispose()


async def write_stream(sessions, stream: str, count: int) -> None:
    for index in range(1, count + 1):
        async with sessions() as session, session.begin():
            await append_event(
                session,
                stream=stream,
                event=f"step.{index}",
                actor="dave" if index % 2 else "system",
                details={"index": index, "comment": "材料齐全"},
                event_key=f"{stream}:{index}",
            )


async def as_rogue_dba(url: str, *statements: str) -> None:
    """Run SQL as a superuser with triggers off, as someone covering their tracks would."""
    connection = await asyncpg.connect(plain_dsn(url))
    try:
        await connection.execute("SET session_replication_role = replica")
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


async def record_id(url: str, stream: str, seq: int) -> int:
    connection = await asyncpg.connect(plain_dsn(url))
    try:
        return await connection.fetchval(
            "SELECT id FROM audit_events WHERE stream = $1 AND seq = $2", stream, seq
        )
    finally:
        await connection.close()


def jieya_audit_verify(url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "workers.cli", "audit", "verify", *args],
        cwd=REPO_ROOT,
        env={**os.environ, "JIEYA_DATABASE_URL": url, "JIEYA_LOG_LEVEL": "WARNING"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def stream_name() -> str:
    return f"RC-A{uuid.uuid4().hex[:9].upper()}"


async def first_break(sessions, stream: str):
    async with sessions() as session:
        report = await verify_chains(session, stream)
    assert not report.ok, "the damage went unnoticed"
    assert len(report.breaks) == 1
    return report.breaks[0]


async def test_an_untouched_trail_verifies_and_the_cli_says_so(audit_db, audit_sessions):
    await write_stream(audit_sessions, stream_name(), 5)
    await write_stream(audit_sessions, "system", 2)
    done = jieya_audit_verify(audit_db)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK" in done.stdout and "7 records in 2 stream(s)" in done.stdout


async def test_the_database_refuses_plain_update_and_delete(audit_db, audit_sessions):
    stream = stream_name()
    await write_stream(audit_sessions, stream, 3)
    connection = await asyncpg.connect(plain_dsn(audit_db))
    try:
        for statement in (
            f"UPDATE audit_events SET actor = 'mallory' WHERE stream = '{stream}'",
            f"DELETE FROM audit_events WHERE stream = '{stream}' AND seq = 3",
            "TRUNCATE audit_events",
            f"DELETE FROM audit_heads WHERE stream = '{stream}'",
            f"UPDATE audit_heads SET seq = 2 WHERE stream = '{stream}'",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await connection.execute(statement)
    finally:
        await connection.close()
    async with audit_sessions() as session:
        assert (await verify_chains(session, stream)).ok


async def test_an_altered_record_fails_the_cli_naming_it(audit_db, audit_sessions):
    stream = stream_name()
    await write_stream(audit_sessions, stream, 5)
    await write_stream(audit_sessions, stream_name(), 2)  # an intact neighbour
    await as_rogue_dba(
        audit_db,
        f"""UPDATE audit_events SET details = '{{"index": 3, "comment": "同意"}}'
            WHERE stream = '{stream}' AND seq = 3""",
    )
    altered = await record_id(audit_db, stream, 3)
    for args in ((stream,), ()):  # one case, and every stream
        done = jieya_audit_verify(audit_db, *args)
        assert done.returncode == 1, done.stdout + done.stderr
        assert f"stream {stream} seq 3 (id {altered}): altered" in done.stdout
        assert done.stdout.count("TAMPERED") == 1, done.stdout


async def test_a_record_removed_from_the_middle_breaks_the_chain_after_it(audit_db, audit_sessions):
    stream = stream_name()
    await write_stream(audit_sessions, stream, 5)
    await as_rogue_dba(audit_db, f"DELETE FROM audit_events WHERE stream = '{stream}' AND seq = 2")
    found = await first_break(audit_sessions, stream)
    assert (found.seq, found.kind) == (3, BreakKind.REMOVED)
    assert "seq 2 missing" in found.reason


async def test_a_removed_last_record_is_caught_by_the_chain_head(audit_db, audit_sessions):
    stream = stream_name()
    await write_stream(audit_sessions, stream, 4)
    last = await record_id(audit_db, stream, 4)
    await as_rogue_dba(audit_db, f"DELETE FROM audit_events WHERE stream = '{stream}' AND seq = 4")
    found = await first_break(audit_sessions, stream)
    assert (found.seq, found.record_id, found.kind) == (4, last, BreakKind.REMOVED)


async def test_swapped_records_are_reported_as_reordered(audit_db, audit_sessions):
    stream = stream_name()
    await write_stream(audit_sessions, stream, 4)
    where = f"stream = '{stream}'"
    await as_rogue_dba(
        audit_db,
        f"UPDATE audit_events SET seq = -2 WHERE {where} AND seq = 2",
        f"UPDATE audit_events SET seq = 2 WHERE {where} AND seq = 3",
        f"UPDATE audit_events SET seq = 3 WHERE {where} AND seq = -2",
    )
    found = await first_break(audit_sessions, stream)
    assert (found.seq, found.kind) == (2, BreakKind.REORDERED)


async def test_a_rewritten_and_rehashed_tail_still_disagrees_with_the_head(
    audit_db, audit_sessions
):
    """A careful forger recomputes the hashes after the record they change; the
    chain is then self-consistent, but the head the database kept is not theirs."""
    stream = stream_name()
    await write_stream(audit_sessions, stream, 3)
    connection = await asyncpg.connect(plain_dsn(audit_db))
    try:
        rows = await connection.fetch(
            "SELECT * FROM audit_events WHERE stream = $1 ORDER BY seq", stream
        )
    finally:
        await connection.close()
    last = rows[-1]
    forged = event_hash(
        last["prev_hash"], stream, 3, last["event"], "mallory", {"index": 3}, last["created_at"]
    )
    await as_rogue_dba(
        audit_db,
        f"""UPDATE audit_events SET actor = 'mallory', details = '{{"index": 3}}',
            hash = '{forged}' WHERE stream = '{stream}' AND seq = 3""",
    )
    found = await first_break(audit_sessions, stream)
    assert (found.seq, found.kind) == (3, BreakKind.ALTERED)
    assert "chain head" in found.reason


async def test_a_case_whose_whole_trail_and_head_were_deleted_is_not_ok(audit_db, audit_sessions):
    facts = new_facts()
    await insert_loan(audit_sessions, facts)
    case_id = await insert_case_row(audit_sessions, facts)
    await write_stream(audit_sessions, case_id, 2)
    await as_rogue_dba(
        audit_db,
        f"DELETE FROM audit_events WHERE stream = '{case_id}'",
        f"DELETE FROM audit_heads WHERE stream = '{case_id}'",
    )
    report = await audit_report(audit_sessions, case_id)
    assert report is not None and not report.ok
    assert report.breaks[0].kind == BreakKind.REMOVED and report.breaks[0].stream == case_id
    assert await audit_report(audit_sessions, "RC-NOSUCHCASE") is None
