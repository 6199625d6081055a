"""For the rows the API writes: new ids, the per-case writer lock, what an open case is."""

from __future__ import annotations

import base64
import secrets

from sqlalchemy import ColumnElement, text
from sqlmodel.ext.asyncio.session import AsyncSession

from models.enums import OPEN_STATUSES
from models.tables import Case


def new_id(prefix: str, length: int = 10) -> str:
    """`RC-7QK2M4XZ9A`: upper-case base32, no padding, unguessable."""
    return prefix + base64.b32encode(secrets.token_bytes(10)).decode()[:length]


async def lock_case(session: AsyncSession, case_id: str) -> None:
    """Serialise writers of one case for this transaction (the same lock `append_event` takes)."""
    await session.exec(text("SELECT pg_advisory_xact_lock(hashtext(:s))").bindparams(s=case_id))


def case_is_open() -> ColumnElement[bool]:
    return Case.status.in_([status.value for status in OPEN_STATUSES])
