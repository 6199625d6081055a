"""Operator accounts: tokens shown once, stored hashed, revocable."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert

from kernel.db import SessionFactory
from models.audit import SYSTEM_STREAM, append_event
from models.enums import Role
from models.tables import Operator, utcnow
from models.tokens import hash_token, new_token


async def add_operator(
    sessions: SessionFactory,
    name: str,
    role: Role,
    branch: str = "HQ",
    valid_days: int | None = None,
    token: str | None = None,
) -> str:
    """Create or re-key an operator; returns the token (shown once, stored hashed)."""
    token = token or new_token()
    expires = utcnow() + timedelta(days=valid_days) if valid_days else None
    values = dict(
        name=name,
        role=role.value,
        branch=branch,
        token_hash=hash_token(token),
        created_at=utcnow(),
        expires_at=expires,
        revoked_at=None,
    )
    async with sessions() as session, session.begin():
        await session.exec(
            insert(Operator)
            .values(**values)
            .on_conflict_do_update(
                index_elements=["name"], set_={k: v for k, v in values.items() if k != "name"}
            )
        )
        await append_event(
            session,
            stream=SYSTEM_STREAM,
            event="operator.keyed",
            actor="cli",
            details={"name": name, "role": role.value, "branch": branch},
            event_key=f"operator:{name}:{hash_token(token)[:16]}",
        )
    return token


async def revoke_operator(sessions: SessionFactory, name: str) -> bool:
    async with sessions() as session, session.begin():
        result = await session.exec(
            update(Operator)
            .where(Operator.name == name, Operator.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        if result.rowcount:
            await append_event(
                session,
                stream=SYSTEM_STREAM,
                event="operator.revoked",
                actor="cli",
                details={"name": name},
                event_key=f"operator:{name}:revoked:{utcnow().isoformat()}",
            )
        return bool(result.rowcount)


async def list_operators(sessions: SessionFactory) -> list[Operator]:
    async with sessions() as session:
        return list((await session.exec(select(Operator).order_by(Operator.name))).scalars())
