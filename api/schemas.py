"""What the API answers: one schema family per resource, read from the rows by
`model_validate` (every schema reads attributes as well as dicts).

The case family: `CaseBase` (the `cases` row as clients see it) → `CaseSummary`
(a line of `GET /cases`) and `CasePublic` (the case page, with its risk,
documents, tasks and decisions). Masking is `api.case_view`'s business."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AliasChoices, BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.engine import Row

from kernel.case_history import HistorySource
from models.audit_verify import ChainReport
from models.enums import CaseStatus, DocType, RiskGrade, Role
from models.masking import mask_id_number, mask_phone
from models.tables import Case
from models.timeline import Timeline

# Every time in an answer is UTC, whichever zone the database session renders in.
UtcDatetime = Annotated[datetime, AfterValidator(lambda value: value.astimezone(UTC))]


class Schema(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- errors ---------------------------------------------------------------------


class ErrorDetail(Schema):
    code: str
    message: str


class ErrorResponse(Schema):
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


# --- the parts of a case ----------------------------------------------------------


class BorrowerPublic(Schema):
    # Aliases: read from a `cases` row too, where these are flat columns (tried first:
    # a missing attribute costs more than a missing key).
    name: str = Field(validation_alias=AliasChoices("borrower_name", "name"))
    id_number: str = Field(validation_alias=AliasChoices("borrower_id_number", "id_number"))
    phone: str = Field(validation_alias=AliasChoices("borrower_phone", "phone"))

    def masked(self) -> BorrowerPublic:
        return BorrowerPublic(
            name=self.name, id_number=mask_id_number(self.id_number), phone=mask_phone(self.phone)
        )


class VehiclePublic(Schema):
    plate_no: str
    vin: str


class RiskPublic(Schema):
    grade: RiskGrade
    reasons: list[str]
    required_approvals: int


class OcrPublic(Schema):
    fields: dict
    needs_review: bool
    issues: list
    mismatches: list


class DocumentPublic(Schema):
    document_id: str
    doc_type: DocType
    sha256: str
    media_type: str
    size_bytes: int
    created_at: UtcDatetime
    ocr: OcrPublic | None = None


class DocumentStored(Schema):
    document_id: str
    doc_type: DocType
    sha256: str
    duplicate: bool = False


class TaskPublic(Schema):
    task_id: str
    case_id: str
    kind: str
    state: str
    round: int
    # `operator`, or `senior` once the task passed its deadline and was escalated.
    queue: str
    assignee: str | None
    claimed_at: UtcDatetime | None
    due_at: UtcDatetime | None
    escalated_at: UtcDatetime | None
    created_at: UtcDatetime
    closed_at: UtcDatetime | None
    details: dict


class TasksPublic(Schema):
    data: list[TaskPublic]
    count: int


class DecisionPublic(Schema):
    task_id: str | None
    actor: str
    role: str
    decision: str
    comment: str
    created_at: UtcDatetime


class IncidentPublic(Schema):
    """A step that gave up and waits for a person (its task is of kind `incident`)."""

    task_id: str
    step: str
    error_type: str
    message: str
    attempts: int
    since: UtcDatetime
    skippable: bool
    # Raised beside the main flow (a message that would not go out): the case goes on.
    side: bool


# --- cases --------------------------------------------------------------------------


_CASE_COLUMNS = frozenset(Case.model_fields)


class CaseBase(Schema):
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
    created_at: UtcDatetime
    updated_at: UtcDatetime

    @model_validator(mode="before")
    @classmethod
    def _read_row(cls, data: Any) -> Any:
        return cls.row_values(data) if isinstance(data, Case | Row) else data

    @classmethod
    def row_values(cls, row: Case | Row) -> dict[str, Any]:
        """What this schema shows of a `cases` row (the table model, or a result row of
        its columns). The borrower and the vehicle are flat columns there: their
        schemas read them from the row (by their aliases)."""
        values = {name: getattr(row, name) for name in cls.model_fields if name in _CASE_COLUMNS}
        return values | {"borrower": row, "vehicle": row}


class CaseCreated(Schema):
    case_id: str
    status: CaseStatus


class CaseSummary(CaseBase):
    """A case in a list."""


class CasesPublic(Schema):
    data: list[CaseSummary]
    # How many cases match the filters, over all pages.
    count: int
    # Pass as `cursor` for the next page; null on the last one.
    next_cursor: str | None = None


class CasePublic(CaseBase):
    """The case page, read from PostgreSQL only: the workflow writes the row with every step."""

    # The review round (1, then 2… after each request for documents).
    round: int
    # Document types the case still waits for (while AWAITING_DOCUMENTS).
    missing_documents: list[DocType]
    risk: RiskPublic | None
    documents: list[DocumentPublic]
    tasks: list[TaskPublic]
    approvals: list[DecisionPublic]
    # The oldest open incident, or null; every open one is also in `tasks`.
    incident: IncidentPublic | None = None


# --- history ------------------------------------------------------------------------


class AuditEventPublic(Schema):
    seq: int
    event: str
    actor: str
    details: dict
    created_at: UtcDatetime
    hash: str


class HistoryPublic(Schema):
    """`data`: the audit records in seq order; `timeline`: the same case as the
    workflow history tells it, linked to those records; `history_source` says
    where the history came from (`temporal`, `archive`, or null: none left)."""

    data: list[AuditEventPublic]
    count: int
    verification: ChainReport
    history_source: HistorySource | None
    timeline: Timeline


# --- everything else ----------------------------------------------------------------


class MePublic(Schema):
    name: str
    role: Role
    branch: str


class LoansImported(Schema):
    imported: int
    cases_signalled: int


class CallbackAccepted(Schema):
    accepted: bool = True


class Health(Schema):
    ok: bool
    database: bool
    temporal: bool


class CodecPayload(Schema):
    """A Temporal payload as the codec-server protocol writes it: base64 values."""

    metadata: dict[str, str] = {}
    data: str = ""


class CodecPayloads(Schema):
    payloads: list[CodecPayload]
