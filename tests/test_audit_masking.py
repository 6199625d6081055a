"""No full ID or phone number enters the audit trail: `append_event` stores the
details masked, and the chain still verifies over what it stored."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from models.audit import append_event
from models.audit_verify import verify_chains
from models.tables import AuditEvent
from tests.utils.inprocess import id_number


async def test_an_id_number_quoted_in_audit_details_is_stored_masked(sessions):
    stream = f"RC-MASK{uuid.uuid4().hex[:8].upper()}"
    reason = f"id_card.id_number: document says {id_number()!r}, ledger says otherwise"
    async with sessions() as session, session.begin():
        await append_event(
            session,
            stream=stream,
            event="risk.assessed",
            actor="system",
            details={
                "grade": "HIGH",
                "reasons": [reason],
                "mismatch": {"field": "id_number", "ocr_value": id_number()},
                "phone": "13812345678",
            },
            event_key=f"{stream}:risk",
        )
    async with sessions() as session:
        [details] = (
            await session.exec(select(AuditEvent.details).where(AuditEvent.stream == stream))
        ).scalars()
    stored = str(details)
    assert id_number() not in stored and "13812345678" not in stored
    masked_id = "110101********" + id_number()[-4:]
    assert details["reasons"] == [reason.replace(id_number(), masked_id)]
    assert details["mismatch"]["ocr_value"] == masked_id and details["phone"] == "138****5678"
    assert details["grade"] == "HIGH"
    async with sessions() as session:
        report = await verify_chains(session, stream)
    assert report.ok and report.records == 1, report.breaks
