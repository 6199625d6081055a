"""The operator HTTP API. `create_app(settings)` builds it; the lifespan owns every client."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from temporalio.client import Client

from activities.adapters.storage import LocalDocumentStore
from api.console import console_router
from api.errors import install_error_handlers, log
from api.middleware import CodecCors, LimitBody, Metrics, ObserveRequests
from api.routes import cases, codec, decisions, documents, health, loans, me, registry, tasks
from api.schemas import ERROR_RESPONSES
from kernel.codec import EncryptionCodec
from kernel.db import async_url, session_factory
from kernel.settings import Settings
from kernel.temporal import connect_temporal

API_PREFIX = "/api/v1"
TEMPORAL_CONNECT_TIMEOUT_S = 10.0
TEMPORAL_RETRY_S = 5.0
# Room for the multipart envelope and form fields around the largest allowed file.
MULTIPART_OVERHEAD = 64 * 1024
# How the API's connections show in pg_stat_activity.
APPLICATION_NAME = "jieya-api"


def _engine(url: str) -> AsyncEngine:
    """The API's pool: without a pre-ping, which over asyncpg is a transaction of its own
    (BEGIN, ping, ROLLBACK) before every request, three of its seven round trips. A
    connection the database dropped (a restart) fails its request with a 503 instead,
    and the whole pool is replaced for the next ones."""
    return create_async_engine(
        async_url(url),
        pool_size=10,
        max_overflow=10,
        connect_args={"server_settings": {"application_name": APPLICATION_NAME}},
    )


async def _try_connect(settings: Settings) -> Client | None:
    try:
        client = await asyncio.wait_for(connect_temporal(settings), TEMPORAL_CONNECT_TIMEOUT_S)
    except Exception as error:
        log.warning(
            "temporal not reachable yet",
            address=settings.resolved_temporal_address,
            error=f"{type(error).__name__}: {error}",
        )
        return None
    log.info("temporal connected", address=settings.resolved_temporal_address)
    return client


async def _reconnect(app: FastAPI, settings: Settings) -> None:
    """Keep trying in the background: the API serves reads while Temporal is away."""
    while app.state.temporal is None:
        await asyncio.sleep(TEMPORAL_RETRY_S)
        app.state.temporal = await _try_connect(settings)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    if not settings.database_url:
        raise RuntimeError("JIEYA_DATABASE_URL is not set; the API needs PostgreSQL")
    engine = _engine(settings.database_url)
    app.state.sessions = session_factory(engine)
    app.state.store = LocalDocumentStore(settings.documents_dir)
    keys = settings.payload_keyring()
    app.state.codec = EncryptionCodec(keys) if keys else None
    app.state.temporal = await _try_connect(settings)
    reconnecting = asyncio.create_task(_reconnect(app, settings))
    try:
        yield
    finally:
        reconnecting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reconnecting
        await engine.dispose()


def temporal_ui_origins(settings: Settings) -> list[str]:
    """Where the Temporal UI is served from (the embedded stack's UI port)."""
    port = settings.temporal_ui_port
    return [f"http://{host}:{port}" for host in ("localhost", "127.0.0.1")] if port else []


def create_app(settings: Settings) -> FastAPI:
    """The API for these settings; clients are made when it starts, not here."""
    app = FastAPI(
        title="jieya",
        summary="car-loan mortgage release cases",
        version="1",
        lifespan=_lifespan,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.metrics = Metrics()
    install_error_handlers(app)
    for module in (me, cases, documents, decisions, tasks, loans, registry, codec):
        app.include_router(module.router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    app.include_router(health.router, prefix=API_PREFIX)
    app.include_router(console_router(API_PREFIX))
    # Supervisors and Prometheus look at the root paths by convention.
    app.include_router(health.router, include_in_schema=False)
    # Added last = outermost: every request is measured, including refused ones.
    app.add_middleware(LimitBody, limit=settings.max_upload_bytes + MULTIPART_OVERHEAD)
    # The Temporal UI calls the codec endpoint from the browser: CORS for its origin, there only.
    app.add_middleware(
        CodecCors, prefix=f"{API_PREFIX}/codec/", origins=temporal_ui_origins(settings)
    )
    app.add_middleware(ObserveRequests, metrics=app.state.metrics)
    return app
