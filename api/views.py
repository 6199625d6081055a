"""Response models, PII masking and the one case view builder every route shares."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client

from kernel.logging import get_logger
from models.audit_verify import ChainReport
from models.enums import CaseStatus, DocType, RiskGrade, Role, TaskKind, TaskState
from models.payloads import CaseState
from models.tables import (
    AuditEvent,
    Case,
    Decision,
    Document,
    HumanTask,
    OcrResult,
    RiskAssessment,
)
from models.timeline import Timeline
from workflows.client import case_handle
from workflows.history import HistorySource
from workflows.release_case import ReleaseCaseWorkflow

log = get_logger("jieya.api")

# A case view must not hang on a slow workflow engine; `live` is a bonus.
LIVE_QUERY_TIMEOUT = timedelta(seconds=2)


def mask_id_number(value: str) -> str:
    """First 6 and last 4 characters: `110101********1234`."""
    if len(value) <= 10:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def mask_phone(value: str) -> str:
    """First 3 and last 4 digits: `138****5678`."""
    if len(value) < 8:
        return "*" * len(value)
    return value[:3] + "****" + value[-4:]


# ID and mobile numbers inside free text (risk reasons quote what a document says, and
# OCR misreads some characters): 18 characters opening with a 6-digit region code, the
# old 15-digit form, or a mainland mobile number, each standing alone.
_ID_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])(?:\d{6}[0-9A-Za-z]{11}[0-9Xx]|\d{15})(?![0-9A-Za-z])")
_PHONE_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])1[3-9]\d{9}(?![0-9A-Za-z])")
_ID_KEYS = frozenset({"id_number", "borrower_id_number"})
_PHONE_KEYS = frozenset({"phone", "borrower_phone"})


def mask_text(text: str) -> str:
    text = _ID_IN_TEXT.sub(lambda m: mask_id_number(m.group()), text)
    return _PHONE_IN_TEXT.sub(lambda m: mask_phone(m.group()), text)


def masked(value: Any, key: str | None = None) -> Any:
    """`value` with every ID and phone number masked: by key where the data names
    the field (`id_number`, OCR readings, mismatches), by shape in free text."""
    if isinstance(value, str):
        if key in _ID_KEYS:
            return mask_id_number(value)
        if key in _PHONE_KEYS:
            return mask_phone(value)
        return mask_text(value)
    if isinstance(value, list):
        return [masked(item, key) for item in value]
    if isinstance(value, dict):
        # An OCR reading `{"value": ...}` under `id_number`, or a mismatch naming its field.
        field = value.get("field") if isinstance(value.get("field"), str) else None
        inner = key if key in _ID_KEYS | _PHONE_KEYS else field
        return {
            k: masked(v, inner if k in ("value", "ocr_value", "expected") and inner else k)
            for k, v in value.items()
        }
    return value


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    """What every error looks like."""

    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in (
        (401, "missing, unknown, revoked or expired token"),
        (403, "the caller's role may not do this"),
        (404, "no such case"),
        (409, "conflicts with the case's state"),
        (422, "the request is invalid; the message names the field and why"),
        (503, "the workflow engine is not reachable"),
    )
}


class CaseCreated(BaseModel):
    case_id: str
    status: CaseStatus


class BorrowerPublic(BaseModel):
    name: str
    id_number: str
    phone: str


class VehiclePublic(BaseModel):
    plate_no: str
    vin: str


class RiskPublic(BaseModel):
    grade: RiskGrade
    reasons: list[str]
    required_approvals: int


class OcrPublic(BaseModel):
    fields: dict
    needs_review: bool
    issues: list
    mismatches: list


class DocumentPublic(BaseModel):
    document_id: str
    doc_type: DocType
    sha256: str
    media_type: str
    size_bytes: int
    created_at: datetime
    ocr: OcrPublic | None = None


class DocumentStored(BaseModel):
    document_id: str
    doc_type: DocType
    sha256: str
    duplicate: bool = False


class TaskPublic(BaseModel):
    task_id: str
    case_id: str
    kind: str
    state: str
    round: int
    # `operator`, or `senior` once the task passed its deadline and was escalated.
    queue: str
    assignee: str | None
    claimed_at: datetime | None
    due_at: datetime | None
    escalated_at: datetime | None
    created_at: datetime
    closed_at: datetime | None
    details: dict


class TasksPublic(BaseModel):
    data: list[TaskPublic]
    count: int


class MePublic(BaseModel):
    name: str
    role: Role
    branch: str


class DecisionPublic(BaseModel):
    task_id: str | None
    actor: str
    role: str
    decision: str
    comment: str
    created_at: datetime


class CaseSummary(BaseModel):
    case_id: str
    status: CaseStatus
    step: str
    loan_contract_no: str
    borrower: BorrowerPublic
    vehicle: VehiclePublic
    risk_grade: RiskGrade | None
    branch: str
    assignee: str | None
    sla_breached: bool
    opened_by: str
    created_at: datetime
    updated_at: datetime


class CasesPublic(BaseModel):
    data: list[CaseSummary]
    # How many cases match the filters, over all pages.
    count: int
    # Pass as `cursor` for the next page; null on the last one.
    next_cursor: str | None = None


class IncidentPublic(BaseModel):
    """A step that gave up and waits for a person (its task is of kind `incident`)."""

    task_id: str
    step: str
    error_type: str
    message: str
    attempts: int
    since: datetime
    skippable: bool
    # Raised beside the main flow (a message that would not go out): the case goes on.
    side: bool


class CasePublic(CaseSummary):
    risk: RiskPublic | None
    documents: list[DocumentPublic]
    tasks: list[TaskPublic]
    approvals: list[DecisionPublic]
    # The oldest open incident, or null; every open one is also in `tasks`.
    incident: IncidentPublic | None = None
    live: CaseState | None


class AuditEventPublic(BaseModel):
    seq: int
    event: str
    actor: str
    details: dict
    created_at: datetime
    hash: str


class HistoryPublic(BaseModel):
    """`data`: the audit records in seq order; `timeline`: the same case as the
    workflow history tells it, linked to those records; `history_source` says
    where the history came from (`temporal`, `archive`, or null: none left)."""

    data: list[AuditEventPublic]
    count: int
    verification: ChainReport
    history_source: HistorySource | None
    timeline: Timeline


def history_view(
    events: list[AuditEvent],
    timeline: Timeline,
    verification: ChainReport,
    source: HistorySource | None,
) -> HistoryPublic:
    """The history endpoint's answer, with ID and phone numbers masked like every
    other view (the hashes cover the unmasked records: verify with the CLI)."""
    data = [
        AuditEventPublic.model_validate(e, from_attributes=True).model_copy(
            update={"details": masked(e.details)}
        )
        for e in events
    ]
    entries = [
        entry.model_copy(
            update={
                "what": mask_text(entry.what),
                "comment": masked(entry.comment),
                "failure": masked(entry.failure),
            }
        )
        for entry in timeline.entries
    ]
    return HistoryPublic(
        data=data,
        count=len(data),
        verification=verification,
        history_source=source,
        timeline=timeline.model_copy(update={"entries": entries}),
    )


class LoansImported(BaseModel):
    imported: int
    cases_signalled: int


class CallbackAccepted(BaseModel):
    accepted: bool = True


class Health(BaseModel):
    ok: bool
    database: bool
    temporal: bool


def case_summary(case: Case, reveal: bool = False) -> CaseSummary:
    """The case row as clients see it; ID and phone masked unless `reveal`."""
    id_number, phone = case.borrower_id_number, case.borrower_phone
    if not reveal:
        id_number, phone = mask_id_number(id_number), mask_phone(phone)
    return CaseSummary(
        case_id=case.case_id,
        status=CaseStatus(case.status),
        step=case.step,
        loan_contract_no=case.loan_contract_no,
        borrower=BorrowerPublic(
            name=case.borrower_name,
            id_number=id_number,
            phone=phone,
        ),
        vehicle=VehiclePublic(plate_no=case.plate_no, vin=case.vin),
        risk_grade=RiskGrade(case.risk_grade) if case.risk_grade else None,
        branch=case.branch,
        assignee=case.assignee,
        sla_breached=case.sla_breached,
        opened_by=case.opened_by,
        created_at=case.created_at,
        updated_at=case.updated_at,
    )


def task_view(task: HumanTask, reveal: bool = False) -> TaskPublic:
    view = TaskPublic.model_validate(task, from_attributes=True)
    # Details quote the risk reasons, which may quote an ID number.
    return view if reveal else view.model_copy(update={"details": masked(view.details)})


async def live_state(client: Client | None, case_id: str) -> CaseState | None:
    """The workflow's own view, or None when the engine is away or slow."""
    if client is None:
        return None
    query = case_handle(client, case_id).query(
        ReleaseCaseWorkflow.state, rpc_timeout=LIVE_QUERY_TIMEOUT
    )
    try:
        return await asyncio.wait_for(query, LIVE_QUERY_TIMEOUT.total_seconds() + 0.5)
    except Exception as error:  # any failure just means "no live view"
        log.info("live state unavailable", case_id=case_id, error=type(error).__name__)
        return None


async def case_view(
    session: AsyncSession, case: Case, client: Client | None, reveal: bool = False
) -> CasePublic:
    """Everything about one case: the row, its documents with OCR, tasks, decisions, live
    state; every ID and phone number in it masked unless `reveal`."""
    live = asyncio.ensure_future(live_state(client, case.case_id))
    try:
        risk = (
            await session.exec(
                select(RiskAssessment)
                .where(RiskAssessment.case_id == case.case_id)
                .order_by(RiskAssessment.round.desc(), RiskAssessment.id.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
        documents = (
            await session.exec(
                select(Document, OcrResult)
                .outerjoin(OcrResult, OcrResult.document_id == Document.document_id)
                .where(Document.case_id == case.case_id)
                .order_by(Document.created_at, Document.document_id)
            )
        ).all()
        tasks = list(
            (
                await session.exec(
                    select(HumanTask)
                    .where(HumanTask.case_id == case.case_id)
                    .order_by(HumanTask.created_at, HumanTask.task_id)
                )
            ).scalars()
        )
        decisions = (
            await session.exec(
                select(Decision)
                .where(Decision.case_id == case.case_id)
                .order_by(Decision.created_at, Decision.id)
            )
        ).scalars()
        view = CasePublic(
            **dict(case_summary(case, reveal=True)),
            risk=RiskPublic.model_validate(risk, from_attributes=True) if risk else None,
            documents=[_document_view(doc, ocr) for doc, ocr in documents],
            tasks=[task_view(task, reveal=True) for task in tasks],
            approvals=[DecisionPublic.model_validate(d, from_attributes=True) for d in decisions],
            incident=open_incident(tasks),
            live=await live,
        )
    finally:
        live.cancel()
    # Masked as a whole: OCR readings, mismatches, risk reasons and comments all quote numbers.
    return view if reveal else CasePublic.model_validate(masked(view.model_dump()))


def open_incident(tasks: list[HumanTask]) -> IncidentPublic | None:
    """The oldest open incident task of a case, as the case view shows it."""
    for task in tasks:
        if task.kind == TaskKind.INCIDENT.value and task.state == TaskState.OPEN.value:
            details = task.details
            return IncidentPublic(
                task_id=task.task_id,
                step=str(details.get("step", "")),
                error_type=str(details.get("error_type", "")),
                message=str(details.get("message", "")),
                attempts=int(details.get("attempts") or 0),
                since=details.get("since") or task.created_at,
                skippable=bool(details.get("skippable")),
                side=bool(details.get("side")),
            )
    return None


def _document_view(doc: Document, ocr: OcrResult | None) -> DocumentPublic:
    return DocumentPublic(
        document_id=doc.document_id,
        doc_type=DocType(doc.doc_type),
        sha256=doc.sha256,
        media_type=doc.media_type,
        size_bytes=doc.size_bytes,
        created_at=doc.created_at,
        ocr=OcrPublic.model_validate(ocr, from_attributes=True) if ocr else None,
    )
