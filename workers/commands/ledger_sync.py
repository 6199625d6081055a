"""`jieya loans import`: upsert the ledger, then wake the cases waiting on it."""

from __future__ import annotations

from pathlib import Path

from kernel.case_client import signal_ledger_updated
from kernel.db import create_engine, session_factory
from kernel.settings import Settings
from kernel.temporal import connect_temporal
from models.loans import open_cases_for, read_loans_csv, upsert_loans


async def import_ledger_file(settings: Settings, path: Path) -> tuple[int, int]:
    if not settings.database_url:
        raise ValueError("JIEYA_DATABASE_URL is not set")
    rows = read_loans_csv(path.read_text(encoding="utf-8"))
    engine = create_engine(settings.database_url, pool_size=2)
    try:
        sessions = session_factory(engine)
        imported = await upsert_loans(sessions, rows)
        waiting = await open_cases_for(sessions, [r["contract_no"] for r in rows])
    finally:
        await engine.dispose()
    if not waiting:
        return imported, 0
    client = await connect_temporal(settings)
    told = 0
    for contract, case_ids in waiting.items():
        told += await signal_ledger_updated(client, case_ids, contract)
    return imported, told
