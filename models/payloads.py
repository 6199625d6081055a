"""Plain input/result models that cross the Temporal boundary (never table rows).

One input model per workflow, activity, signal and update, so fields can be
added later without breaking running cases."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from pydantic import BaseModel, Field

from models.enums import (
    CaseStatus,
    DecisionKind,
    DocType,
    Milestone,
    RegistryOutcome,
    RiskGrade,
    Role,
    TaskKind,
)


class CaseTimings(BaseModel):
    """Deadlines and poll intervals, fixed per case when it starts."""

    documents_deadline: timedelta = timedelta(days=14)
    settlement_deadline: timedelta = timedelta(days=30)
    ledger_recheck: timedelta = timedelta(days=1)
    registry_poll_first: timedelta = timedelta(seconds=2)
    registry_poll_max: timedelta = timedelta(minutes=2)
    registry_callback_url: str | None = None
    # How long a human task may wait; a reminder goes out at REMINDER_AT of it
    # and the task is escalated to the senior queue at the deadline.
    task_sla: dict[TaskKind, timedelta] = Field(
        default_factory=lambda: {
            TaskKind.DOCUMENT_REVIEW: timedelta(hours=8),
            TaskKind.APPROVAL: timedelta(hours=24),
            TaskKind.SECOND_APPROVAL: timedelta(hours=24),
            TaskKind.REGISTRY_FOLLOW_UP: timedelta(hours=48),
        }
    )

    def sla_for(self, kind: TaskKind) -> timedelta:
        return self.task_sla.get(kind, timedelta(hours=24))


class ReleaseCaseInput(BaseModel):
    case_id: str
    loan_contract_no: str
    opened_by: str
    branch: str = "HQ"
    timings: CaseTimings = Field(default_factory=CaseTimings)


class DocumentUploaded(BaseModel):
    document_id: str
    doc_type: DocType


class DecisionRequest(BaseModel):
    decision: DecisionKind
    actor: str
    role: Role
    comment: str = ""
    # Which documents to upload again on `request_documents`; empty means all required.
    documents: list[DocType] = Field(default_factory=list)
    # Client-chosen id that makes a retried signal/update count once.
    request_id: str = ""


class DecisionOutcome(BaseModel):
    status: CaseStatus
    step: str
    message: str


class LedgerUpdated(BaseModel):
    contract_no: str


class RegistryResult(BaseModel):
    idempotency_key: str
    outcome: RegistryOutcome
    registry_ref: str | None = None
    reason: str | None = None


class FieldMismatch(BaseModel):
    doc_type: DocType
    field: str
    ocr_value: str | None
    expected: str | None
    confidence: float
    box: list | None = None


class DocumentReview(BaseModel):
    document_id: str
    doc_type: DocType
    needs_review: bool
    issues: list[str] = Field(default_factory=list)
    mismatches: list[FieldMismatch] = Field(default_factory=list)


class RiskResult(BaseModel):
    grade: RiskGrade
    reasons: list[str]
    required_approvals: int
    needs_document_review: bool
    # What a document-review task shows per field: OCR value, expected value,
    # confidence and the image region it was read from.
    mismatches: list[FieldMismatch] = Field(default_factory=list)


class OpenTask(BaseModel):
    task_id: str
    kind: TaskKind
    round: int
    due_at: datetime | None = None
    escalated: bool = False


class CaseState(BaseModel):
    """What the `state` query returns: the live view of a running case."""

    case_id: str
    status: CaseStatus
    step: str
    round: int
    documents: dict[str, str]
    missing_documents: list[DocType]
    risk: RiskResult | None = None
    open_task: OpenTask | None = None
    approvals: list[str] = Field(default_factory=list)
    registry_key: str | None = None


# --- activity inputs -------------------------------------------------------


class RecordTransitionInput(BaseModel):
    case_id: str
    status: CaseStatus
    step: str
    event: str
    event_key: str
    actor: str = "system"
    details: dict = Field(default_factory=dict)
    risk_grade: RiskGrade | None = None


class CaseRef(BaseModel):
    case_id: str


class RepaymentCheck(BaseModel):
    settled: bool
    settled_at: date | None = None
    outstanding_amount: str
    reason: str


class ReviewDocumentInput(BaseModel):
    case_id: str
    document_id: str


class AssessRiskInput(BaseModel):
    case_id: str
    round: int
    reviews: list[DocumentReview]


class OpenTaskInput(BaseModel):
    case_id: str
    task_id: str
    kind: TaskKind
    round: int
    details: dict = Field(default_factory=dict)
    due_at: datetime | None = None


class TaskSlaInput(BaseModel):
    case_id: str
    task_id: str
    kind: TaskKind
    stage: str  # "reminder" or "escalation"
    due_at: datetime


class CloseTaskInput(BaseModel):
    task_id: str
    cancelled: bool = False


class RecordDecisionInput(BaseModel):
    case_id: str
    task_id: str | None
    decision_ref: str
    request: DecisionRequest


class SubmitDeregistrationInput(BaseModel):
    case_id: str
    idempotency_key: str
    callback_url: str | None = None


class CheckDeregistrationInput(BaseModel):
    case_id: str
    idempotency_key: str


class NotifyCustomerInput(BaseModel):
    case_id: str
    milestone: Milestone
    # Distinguishes the same milestone in a later round (documents asked twice).
    round: int = 1
    detail: str = ""


class GuarantorRelease(BaseModel):
    needed: bool
    guarantor: str | None = None
    confirmed: bool = False


class NotifyResult(BaseModel):
    sent: list[str]
    skipped_duplicates: list[str]
