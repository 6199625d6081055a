"""Database engine, sessions and migrations (async SQLAlchemy over asyncpg)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"

SessionFactory = async_sessionmaker[AsyncSession]


def async_url(url: str) -> str:
    """Accept plain `postgresql://` DSNs too; we always talk asyncpg."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


def create_engine(url: str, pool_size: int = 5) -> AsyncEngine:
    return create_async_engine(
        async_url(url), pool_size=pool_size, max_overflow=10, pool_pre_ping=True
    )


def session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


def alembic_config(url: str):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", async_url(url).replace("%", "%%"))
    return config


def _upgrade(url: str) -> None:
    from alembic import command

    command.upgrade(alembic_config(url), "head")


async def upgrade_database(url: str) -> None:
    """Apply every Alembic revision up to head (idempotent)."""
    # Alembic's env runs its own event loop, so keep it off ours.
    await asyncio.to_thread(_upgrade, url)
