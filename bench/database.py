"""A throw-away PostgreSQL for a benchmark: embedded, migrated to head, stopped
with the benchmark's exit stack."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

from kernel.db import upgrade_database
from workers.dev.embedded_pg import EmbeddedPostgres


async def bench_database(exits: AsyncExitStack, root: Path) -> str:
    """Start a cluster under ``root``, create and migrate database ``bench``; its URL."""
    pg = EmbeddedPostgres(root / "pg")
    pg.start()
    exits.callback(pg.stop)
    await pg.wait_ready(timeout=60)
    url = await pg.ensure_database("bench")
    await upgrade_database(url)
    return url
