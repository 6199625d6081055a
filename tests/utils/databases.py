"""A fresh, migrated database on the test session's PostgreSQL server, for tests
that must see only their own rows (tampering, "every case" listings)."""

from __future__ import annotations

import uuid

import asyncpg

from kernel.db import upgrade_database


def plain_dsn(url: str) -> str:
    """The SQLAlchemy URL as asyncpg.connect wants it."""
    return url.replace("+asyncpg", "")


async def fresh_database(server_url: str, prefix: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(plain_dsn(server_url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = f"{server_url.rsplit('/', 1)[0]}/{name}"
    await upgrade_database(url)
    return url
