"""Request dependencies as `Annotated` aliases; everything they hand out lives on `app.state`."""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Header, Path, Request, UploadFile
from sqlalchemy import ColumnElement, text
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client

from activities.adapters.storage import LocalDocumentStore
from api.errors import ApiError
from kernel.db import SessionFactory
from kernel.settings import Settings
from models.enums import OPEN_STATUSES
from models.tables import Case

CASE_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


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


async def get_case(session: AsyncSession, case_id: str) -> Case:
    case = await session.get(Case, case_id) if CASE_ID.match(case_id) else None
    if case is None:
        raise ApiError(404, "case_not_found", f"case {case_id} does not exist")
    return case


async def case_from_path(session: SessionDep, case_id: Annotated[str, Path()]) -> Case:
    return await get_case(session, case_id)


def case_is_open() -> ColumnElement[bool]:
    return Case.status.in_([status.value for status in OPEN_STATUSES])


async def lock_case(session: AsyncSession, case_id: str) -> None:
    """Serialise writers of one case for this transaction (the same lock `append_event` takes)."""
    await session.exec(text("SELECT pg_advisory_xact_lock(hashtext(:s))").bindparams(s=case_id))


CaseDep = Annotated[Case, Depends(case_from_path)]


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
