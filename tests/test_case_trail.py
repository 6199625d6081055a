"""One real case, run by the real worker: its history, its audit trail and its
timeline agree, and `jieya replay` and `jieya audit verify` say so."""

from __future__ import annotations

import os
import subprocess
import sys

from sqlalchemy import select

from kernel.codec import decrypt_json
from models.audit_verify import verify_chains
from models.tables import AuditEvent
from models.timeline import EntryKind, build_timeline
from tests.conftest import TEST_KEYS, TEST_KEYS_FILE
from tests.utils.factories import (
    approve_until_closed,
    insert_loan,
    new_facts,
    open_case,
    upload_all,
)
from tests.utils.processes import REPO_ROOT


def jieya(database_url: str, temporal: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIEYA_")}
    env.update(
        JIEYA_DATABASE_URL=database_url,
        JIEYA_TEMPORAL_ADDRESS=temporal,
        JIEYA_LOG_LEVEL="WARNING",
        JIEYA_PAYLOAD_KEYS_FILE=str(TEST_KEYS_FILE),  # its payloads are encrypted
    )
    return subprocess.run(
        [sys.executable, "-m", "workers.cli", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_a_completed_case_replays_and_its_trail_backs_every_step(case_worker, database_url):
    facts = new_facts(seed=301)
    await insert_loan(case_worker.sessions, facts)
    handle = await open_case(case_worker.sessions, case_worker.client, facts)
    await upload_all(case_worker.sessions, case_worker.store, handle, facts)
    final = await approve_until_closed(handle)
    assert final.status.is_closed

    history = decrypt_json((await handle.fetch_history()).to_json_dict(), TEST_KEYS)
    async with case_worker.sessions() as session:
        audit = list(
            (
                await session.exec(
                    select(AuditEvent)
                    .where(AuditEvent.stream == handle.id)
                    .order_by(AuditEvent.seq)
                )
            ).scalars()
        )
    async with case_worker.sessions() as session:
        assert (await verify_chains(session, handle.id)).ok
    timeline = build_timeline(history, audit)
    steps = [e for e in timeline.entries if e.kind in (EntryKind.STEP, EntryKind.DECISION)]
    assert steps and all(e.audit_seq is not None for e in steps), [
        e.what for e in steps if e.audit_seq is None
    ]

    temporal = case_worker.client.service_client.config.target_host
    replayed = jieya(database_url, temporal, "replay", handle.id)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert (
        replayed.stdout.startswith(f"OK {handle.id}")
        and "[history from temporal]" in replayed.stdout
    )
    assert "[audit #" in replayed.stdout
    verified = jieya(database_url, temporal, "audit", "verify", handle.id)
    assert verified.returncode == 0 and verified.stdout.startswith("OK"), verified.stdout
