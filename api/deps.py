"""Request dependencies as `Annotated` aliases; everything they hand out lives on `app.state`.

Also who the caller is (`CurrentOperator`) and which cases they may see
(`case_scope`): every list and every per-case lookup goes through that one rule."""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import AsyncIterator, Callable
from typing import Annotated

from fastapi import Depends, Header, Path, Request, UploadFile
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import ColumnElement, select, text, true
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client

from activities.adapters.storage import LocalDocumentStore
from api.errors import ApiError
from kernel.db import SessionFactory
from kernel.settings import Settings
from models.enums import OPEN_STATUSES, Role
from models.tables import Case, Operator, utcnow
from models.tokens import hash_token

CASE_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
# Roles whose work spans branches; everyone else sees only their own branch's cases.
ALL_BRANCH_ROLES = frozenset({Role.ADMIN, Role.AUDITOR})


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_sessions(request: Request) -> SessionFactory:
    return request.app.state.sessions


async def get_session(
    sessions: Annotated[SessionFactory, Depends(get_sessions)],
) -> AsyncIterator[AsyncSession]:
    async with sessions() as session:
        yield session


def get_temporal_or_none(request: Request) -> Client | None:
    return request.app.state.temporal


def get_temporal(client: Annotated[Client | None, Depends(get_temporal_or_none)]) -> Client:
    if client is None:
        raise ApiError(
            503, "temporal_unavailable", "the workflow engine is not reachable; try again shortly"
        )
    return client


def get_store(request: Request) -> LocalDocumentStore:
    return request.app.state.store


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionFactoryDep = Annotated[SessionFactory, Depends(get_sessions)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
TemporalClientDep = Annotated[Client, Depends(get_temporal)]
OptionalTemporalDep = Annotated[Client | None, Depends(get_temporal_or_none)]
StoreDep = Annotated[LocalDocumentStore, Depends(get_store)]
# The client's retry token: one case per key (POST /cases), one decision per key.
IdempotencyKeyHeader = Annotated[
    str | None, Header(alias="Idempotency-Key", min_length=1, max_length=128)
]


# --- who is calling ------------------------------------------------------------

_bearer = HTTPBearer(auto_error=False, description="an operator token from `jieya operator add`")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers=_CHALLENGE)


def is_active(operator: Operator) -> bool:
    """Not revoked and not expired: the same test for callers and for assignees."""
    if operator.revoked_at is not None:
        return False
    return operator.expires_at is None or operator.expires_at > utcnow()


async def current_operator(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Operator:
    """The operator whose bearer token this is (checked against `Operator.token_hash`)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
    token_hash = hash_token(credentials.credentials.strip())
    operator = (
        await session.exec(select(Operator).where(Operator.token_hash == token_hash))
    ).scalar_one_or_none()
    if operator is None:
        raise _unauthorized("unknown token")
    if operator.revoked_at is not None:
        raise _unauthorized(f"the token of {operator.name} has been revoked")
    if not is_active(operator):
        expired = f"{operator.expires_at:%Y-%m-%d %H:%M} UTC"
        raise _unauthorized(f"the token of {operator.name} expired at {expired}")
    if operator.role not in {r.value for r in Role}:
        raise ApiError(403, "forbidden", f"operator {operator.name} has no valid role")
    return operator


CurrentOperator = Annotated[Operator, Depends(current_operator)]


# --- which cases they see -------------------------------------------------------


def sees_all_branches(operator: Operator) -> bool:
    return Role(operator.role) in ALL_BRANCH_ROLES


def case_scope(operator: Operator) -> ColumnElement[bool]:
    """The cases `operator` may see: their branch's, or every branch's for admins and auditors."""
    if sees_all_branches(operator):
        return true()
    return Case.branch == operator.branch


def case_not_found(case_id: str) -> ApiError:
    # The same answer for "no such case" and "another branch's case": existence does not leak.
    return ApiError(404, "case_not_found", f"case {case_id} does not exist")


async def find_visible_case(session: AsyncSession, operator: Operator, case_id: str) -> Case | None:
    if not CASE_ID.match(case_id):
        return None
    query = select(Case).where(Case.case_id == case_id, case_scope(operator))
    return (await session.exec(query)).scalar_one_or_none()


async def visible_case(session: AsyncSession, operator: Operator, case_id: str) -> Case:
    case = await find_visible_case(session, operator, case_id)
    if case is None:
        raise case_not_found(case_id)
    return case


async def case_from_path(
    operator: CurrentOperator, session: SessionDep, case_id: Annotated[str, Path()]
) -> Case:
    return await visible_case(session, operator, case_id)


# The case named in the path, if the caller may see it; 404 otherwise.
CaseDep = Annotated[Case, Depends(case_from_path)]


def case_is_open() -> ColumnElement[bool]:
    return Case.status.in_([status.value for status in OPEN_STATUSES])


async def lock_case(session: AsyncSession, case_id: str) -> None:
    """Serialise writers of one case for this transaction (the same lock `append_event` takes)."""
    await session.exec(text("SELECT pg_advisory_xact_lock(hashtext(:s))").bindparams(s=case_id))


def new_id(prefix: str, length: int = 10) -> str:
    """`RC-7QK2M4XZ9A`: upper-case base32, no padding, unguessable."""
    return prefix + base64.b32encode(secrets.token_bytes(10)).decode()[:length]


async def read_capped(file: UploadFile, limit: int) -> bytes:
    """Read an upload, refusing it as soon as it passes `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await file.read(1 << 16):
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def too_large(limit: int) -> ApiError:
    return ApiError(413, "file_too_large", f"the upload is larger than {limit} bytes")


def body_too_large(limit: int) -> ApiError:
    return ApiError(413, "body_too_large", f"the request body is larger than {limit} bytes")


async def read_body_capped(
    request: Request, limit: int, refuse: Callable[[int], ApiError] = body_too_large
) -> bytes:
    """Read a raw request body, refusing it as soon as it passes `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise refuse(limit)
        chunks.append(chunk)
    return b"".join(chunks)
