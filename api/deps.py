"""Request dependencies as `Annotated` aliases; everything they hand out lives on
`app.state`, made in the app's lifespan. Who is calling is `api.auth`; which cases
they see is `api.scope`.

Every dependency is `async def`, even those that only read `app.state`: FastAPI
runs a plain `def` in its thread pool, a thread hop per dependency per request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client

from activities.adapters.storage import LocalDocumentStore
from api.errors import ApiError
from kernel.codec import EncryptionCodec
from kernel.db import SessionFactory
from kernel.settings import Settings


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_sessions(request: Request) -> SessionFactory:
    return request.app.state.sessions


async def get_session(
    sessions: Annotated[SessionFactory, Depends(get_sessions)],
) -> AsyncIterator[AsyncSession]:
    async with sessions() as session:
        yield session


async def get_temporal_or_none(request: Request) -> Client | None:
    return request.app.state.temporal


async def get_temporal(client: Annotated[Client | None, Depends(get_temporal_or_none)]) -> Client:
    if client is None:
        raise ApiError(
            503, "temporal_unavailable", "the workflow engine is not reachable; try again shortly"
        )
    return client


async def get_store(request: Request) -> LocalDocumentStore:
    return request.app.state.store


async def get_codec(request: Request) -> EncryptionCodec | None:
    """The payload codec made from the configured keys, or None when there are none."""
    return request.app.state.codec


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionFactoryDep = Annotated[SessionFactory, Depends(get_sessions)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
TemporalClientDep = Annotated[Client, Depends(get_temporal)]
OptionalTemporalDep = Annotated[Client | None, Depends(get_temporal_or_none)]
StoreDep = Annotated[LocalDocumentStore, Depends(get_store)]
CodecDep = Annotated[EncryptionCodec | None, Depends(get_codec)]
# The client's retry token: one case per key (POST /cases), one decision per key.
IdempotencyKeyHeader = Annotated[
    str | None, Header(alias="Idempotency-Key", min_length=1, max_length=128)
]
