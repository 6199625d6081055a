"""Cases: open, search, read, and the audit timeline."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy import ColumnElement, func, or_, select

from api.auth import CurrentOperator, WriterOperator
from api.deps import (
    CaseDep,
    IdempotencyKeyHeader,
    OptionalTemporalDep,
    SessionDep,
    SettingsDep,
    TemporalClientDep,
)
from api.inputs import CaseCreate
from api.opening import ensure_started, open_case
from api.views import (
    AuditEventPublic,
    CaseCreated,
    CasePublic,
    CasesPublic,
    HistoryPublic,
    case_summary,
    case_view,
)
from models.enums import CaseStatus, RiskGrade
from models.tables import AuditEvent, Case

router = APIRouter(prefix="/cases", tags=["cases"])


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
    """Open a release case for a loan contract and start its workflow."""
    case, created = await open_case(session, operator, body, idempotency_key)
    await ensure_started(client, case, settings)
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    # A replay answers exactly as the first call did.
    return CaseCreated(case_id=case.case_id, status=CaseStatus.AWAITING_DOCUMENTS)


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _filters(
    status: CaseStatus | None, risk_grade: RiskGrade | None, q: str | None
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if status is not None:
        conditions.append(Case.status == status.value)
    if risk_grade is not None:
        conditions.append(Case.risk_grade == risk_grade.value)
    if q and q.strip():
        pattern = _like(q.strip())
        conditions.append(
            or_(
                Case.loan_contract_no.ilike(pattern, escape="\\"),
                Case.plate_no.ilike(pattern, escape="\\"),
                Case.borrower_name.ilike(pattern, escape="\\"),
            )
        )
    return conditions


@router.get("", response_model=CasesPublic)
async def list_cases(
    _: CurrentOperator,
    session: SessionDep,
    status: CaseStatus | None = None,
    risk_grade: RiskGrade | None = None,
    q: Annotated[str | None, Query(max_length=64, pattern=r"^[^\x00]*$")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> CasesPublic:
    """Search cases by status, risk grade and text, newest first."""
    conditions = _filters(status, risk_grade, q)
    total = select(func.count()).select_from(Case).where(*conditions)
    count = (await session.exec(total)).scalar_one()
    rows = (
        await session.exec(
            select(Case)
            .where(*conditions)
            .order_by(Case.created_at.desc(), Case.case_id)
            .limit(limit)
            .offset(offset)
        )
    ).scalars()
    return CasesPublic(data=[case_summary(case) for case in rows], count=count)


@router.get("/{case_id}", response_model=CasePublic)
async def read_case(
    _: CurrentOperator, case: CaseDep, session: SessionDep, client: OptionalTemporalDep
) -> CasePublic:
    """One case with its risk, documents, tasks, decisions and live workflow state."""
    return await case_view(session, case, client)


@router.get("/{case_id}/history", response_model=HistoryPublic)
async def case_history(_: CurrentOperator, case: CaseDep, session: SessionDep) -> HistoryPublic:
    """The case's audit trail in order."""
    events = (
        await session.exec(
            select(AuditEvent).where(AuditEvent.stream == case.case_id).order_by(AuditEvent.seq)
        )
    ).scalars()
    data = [AuditEventPublic.model_validate(e, from_attributes=True) for e in events]
    return HistoryPublic(data=data, count=len(data))
