"""The case's bookkeeping — its row following the workflow, and one audit record
per step — written inside whichever transaction carries it: the next step's own
activity, or `record_transitions` (a local activity) where the case waits with
no step to ride on. One place, so every carrier writes it the same way."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import update
from sqlmodel.ext.asyncio.session import AsyncSession

from activities.errors import CASE_NOT_FOUND, business_error
from models.audit import append_event
from models.payloads import RecordTransitionInput
from models.tables import Case, utcnow


async def write_transitions(
    session: AsyncSession, records: Sequence[RecordTransitionInput]
) -> None:
    """Apply `records` in order, in the caller's transaction. Repeating them (a retried
    activity, two carriers of the same records) writes each audit record once."""
    for record in records:
        values = {"status": record.status.value, "step": record.step, "updated_at": utcnow()}
        if record.risk_grade is not None:
            values["risk_grade"] = record.risk_grade.value
        if record.status.is_closed:
            values["closed_at"] = utcnow()
        if record.round is not None:
            values["round"] = record.round
        if record.missing_documents is not None:
            values["missing_documents"] = [d.value for d in record.missing_documents]
        result = await session.exec(
            update(Case).where(Case.case_id == record.case_id).values(**values)
        )
        if result.rowcount == 0:
            raise business_error(CASE_NOT_FOUND, f"case {record.case_id} does not exist")
        if record.event:
            await append_event(
                session,
                stream=record.case_id,
                event=record.event,
                actor=record.actor,
                details={"status": record.status.value, "step": record.step, **record.details},
                event_key=record.event_key,
            )
