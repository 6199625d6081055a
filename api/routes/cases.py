"""Cases: open, search, read, and the audit timeline."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response
from sqlalchemy import select

from api.auth import PII_READERS, CurrentOperator, WriterOperator
from api.case_view import find_case_view, history_view
from api.deps import (
    IdempotencyKeyHeader,
    OptionalTemporalDep,
    SessionDep,
    SessionFactoryDep,
    SettingsDep,
    TemporalClientDep,
)
from api.errors import ApiError
from api.inputs import CaseCreate, CaseSearch
from api.opening import ensure_started, open_case
from api.schemas import CaseCreated, CasePublic, CasesPublic, HistoryPublic
from api.scope import CaseDep, case_not_found
from api.search import search_cases
from kernel.case_history import load_case_history
from kernel.codec import decrypt_json
from models.audit import append_event
from models.audit_verify import verify_chains
from models.enums import CaseStatus, Role
from models.tables import AuditEvent
from models.timeline import build_timeline

router = APIRouter(prefix="/cases", tags=["cases"])

REVEALED_FIELDS = ["borrower.id_number", "borrower.phone"]
# The timeline is worth a short wait, not a hung page; the archive answers otherwise.
HISTORY_FETCH_TIMEOUT = timedelta(seconds=3)


@router.post("", status_code=201, response_model=CaseCreated)
async def create_case(
    body: CaseCreate,
    operator: WriterOperator,
    session: SessionDep,
    client: TemporalClientDep,
    settings: SettingsDep,
    response: Response,
    idempotency_key: IdempotencyKeyHeader = None,
) -> CaseCreated:
    """Open a release case for a loan contract (in the caller's branch) and start its workflow."""
    case, created = await open_case(session, operator, body, idempotency_key)
    await ensure_started(client, case, settings)
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    # A replay answers exactly as the first call did.
    return CaseCreated(case_id=case.case_id, status=CaseStatus.AWAITING_DOCUMENTS)


@router.get("", response_model=CasesPublic)
async def list_cases(
    operator: CurrentOperator, session: SessionDep, search: Annotated[CaseSearch, Query()]
) -> CasesPublic:
    """Search the cases the caller may see, newest first; page on with `next_cursor`."""
    return await search_cases(session, operator, search)


@router.get("/{case_id}", response_model=CasePublic)
async def read_case(
    operator: CurrentOperator,
    session: SessionDep,
    case_id: Annotated[str, Path()],
    reveal: Annotated[
        Literal["pii", "true", "false"] | None,
        Query(description="`pii` (or `true`): full ID and phone numbers; the read is audited"),
    ] = None,
) -> CasePublic:
    """One case with its risk, documents, tasks and decisions, as PostgreSQL holds it."""
    revealing = reveal in ("pii", "true")
    view = await find_case_view(session, operator, case_id, reveal=revealing)
    if view is None:
        raise case_not_found(case_id)
    if not revealing:
        return view
    if Role(operator.role) not in PII_READERS:
        allowed = ", ".join(r.value for r in PII_READERS)
        raise ApiError(
            403,
            "forbidden",
            f"role {operator.role} may not see full ID and phone numbers (needs {allowed}); "
            "ask without `reveal`",
        )
    # Read and recorded in one transaction, committed before the numbers leave.
    await append_event(
        session,
        stream=case_id,
        event="pii.revealed",
        actor=operator.name,
        details={"fields": REVEALED_FIELDS, "role": operator.role},
        event_key=f"{case_id}:pii:{uuid.uuid4().hex}",
    )
    await session.commit()
    return view


@router.get("/{case_id}/history", response_model=HistoryPublic)
async def case_history(
    _: CurrentOperator,
    case: CaseDep,
    session: SessionDep,
    sessions: SessionFactoryDep,
    client: OptionalTemporalDep,
    settings: SettingsDep,
) -> HistoryPublic:
    """The case's audit trail in order, whether its hash chain holds, and its timeline."""
    events = list(
        (
            await session.exec(
                select(AuditEvent).where(AuditEvent.stream == case.case_id).order_by(AuditEvent.seq)
            )
        ).scalars()
    )
    loaded = await load_case_history(client, session, case.case_id, HISTORY_FETCH_TIMEOUT)
    # Decisions and comments are read from the (encrypted) payloads.
    readable = decrypt_json(loaded.as_dict(), settings.payload_keyring()) if loaded else None
    timeline = build_timeline(readable, events)
    async with sessions() as fresh:  # the check takes its own snapshot
        verification = await verify_chains(fresh, case.case_id)
    return history_view(events, timeline, verification, loaded.source if loaded else None)
