"""The history archive in PostgreSQL: closed cases' Temporal histories, kept for
replay and audit after the namespace's retention has dropped them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlmodel.ext.asyncio.session import AsyncSession

from models.tables import CaseHistory, utcnow


class ArchiveClosedCasesInput(BaseModel):
    # None: carry on from the newest close time already archived.
    since: datetime | None = None


class ArchiveClosedCasesResult(BaseModel):
    archived: int
    already_archived: int
    since: datetime | None = None


async def is_archived(session: AsyncSession, case_id: str, run_id: str) -> bool:
    return await session.get(CaseHistory, (case_id, run_id)) is not None


async def newest_close_time(session: AsyncSession) -> datetime | None:
    return (await session.exec(select(func.max(CaseHistory.closed_at)))).scalar_one()


async def save_history(
    session: AsyncSession,
    *,
    case_id: str,
    run_id: str,
    workflow_type: str,
    status: str,
    history: dict,
    closed_at: datetime | None,
) -> None:
    """Insert or refresh one run's history (archiving twice is harmless)."""
    values = dict(
        workflow_type=workflow_type,
        status=status,
        events=len(history.get("events", [])),
        history=history,
        closed_at=closed_at,
        archived_at=utcnow(),
    )
    await session.exec(
        insert(CaseHistory)
        .values(case_id=case_id, run_id=run_id, **values)
        .on_conflict_do_update(index_elements=["case_id", "run_id"], set_=values)
    )


async def latest_archived(session: AsyncSession, case_id: str) -> CaseHistory | None:
    """The case's most recently closed run (a reset or retry makes more than one)."""
    return (
        await session.exec(
            select(CaseHistory)
            .where(CaseHistory.case_id == case_id)
            .order_by(CaseHistory.closed_at.desc().nulls_last())
            .limit(1)
        )
    ).scalar_one_or_none()


async def archived_run(session: AsyncSession, case_id: str, run_id: str) -> CaseHistory | None:
    return await session.get(CaseHistory, (case_id, run_id))
