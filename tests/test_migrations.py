"""The Alembic revisions and the SQLModel tables describe the same schema."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

import models.audit_heads  # noqa: F401
import models.tables  # noqa: F401
from kernel.db import async_url, upgrade_database


def _diff(connection):
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    return compare_metadata(context, SQLModel.metadata)


async def test_autogenerate_finds_no_difference(database_url):
    engine = create_async_engine(async_url(database_url))
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(_diff)
    finally:
        await engine.dispose()
    assert differences == [], f"models and migrations disagree: {differences}"


async def test_upgrade_is_idempotent(database_url):
    await upgrade_database(database_url)  # already at head: must be a no-op
