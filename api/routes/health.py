"""Liveness for the supervisor, metrics for Prometheus; neither needs a token."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func, select, text
from temporalio.client import Client

from api.deps import OptionalTemporalDep, SessionFactoryDep
from api.schemas import Health
from kernel.db import SessionFactory
from models.enums import Step, TaskKind, TaskState
from models.tables import HumanTask

router = APIRouter(tags=["health"])

PROBE_TIMEOUT = timedelta(seconds=2)


async def _database_ok(sessions: SessionFactory) -> bool:
    async def probe() -> None:
        async with sessions() as session:
            await session.exec(text("SELECT 1"))

    try:
        await asyncio.wait_for(probe(), PROBE_TIMEOUT.total_seconds())
    except Exception:  # any failure is simply "not healthy"
        return False
    return True


async def _temporal_ok(client: Client | None) -> bool:
    if client is None:
        return False
    try:
        check = client.service_client.check_health(timeout=PROBE_TIMEOUT)
        return await asyncio.wait_for(check, PROBE_TIMEOUT.total_seconds() + 0.5)
    except Exception:  # any failure is simply "not healthy"
        return False


@router.get("/healthz", response_model=Health)
async def healthz(sessions: SessionFactoryDep, client: OptionalTemporalDep) -> Health:
    """200 while the process is up; says whether PostgreSQL and Temporal answer."""
    database, temporal = await asyncio.gather(_database_ok(sessions), _temporal_ok(client))
    return Health(ok=True, database=database, temporal=temporal)


async def _open_incidents(sessions: SessionFactory) -> dict[str, int] | None:
    """Open incidents by step, or None when the database does not answer in time."""

    async def count() -> dict[str, int]:
        step = HumanTask.details["step"].astext
        async with sessions() as session:
            rows = await session.exec(
                select(step, func.count())
                .where(
                    HumanTask.state == TaskState.OPEN.value,
                    HumanTask.kind == TaskKind.INCIDENT.value,
                )
                .group_by(step)
            )
            return {str(name): total for name, total in rows.all()}

    try:
        return await asyncio.wait_for(count(), PROBE_TIMEOUT.total_seconds())
    except Exception:  # a scrape must answer even while the database is away
        return None


@router.get("/metrics", response_class=Response)
async def metrics(request: Request, sessions: SessionFactoryDep) -> Response:
    """Request counts and latencies, and open incidents, in the Prometheus text format."""
    registry = request.app.state.metrics
    incidents = await _open_incidents(sessions)
    if incidents is not None:
        registry.open_incidents.clear()
        for step in Step:
            registry.open_incidents.labels(step.value).set(incidents.get(step.value, 0))
    body = generate_latest(registry.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
