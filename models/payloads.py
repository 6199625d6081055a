"""Plain input/result models that cross the Temporal boundary (never table rows).

One input model per workflow, activity, signal and update, so fields can be
added later without breaking running cases."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field

from models.enums import (
    CaseStatus,
    DecisionKind,
    DocType,
    Milestone,
    RegistryOutcome,
    RiskGrade,
    Role,
    Step,
    TaskKind,
    TaskQueue,
)


class CaseTimings(BaseModel):
    """Deadlines and poll intervals, fixed per case when it starts."""

    documents_deadline: timedelta = timedelta(days=14)
    settlement_deadline: timedelta = timedelta(days=30)
    ledger_recheck: timedelta = timedelta(days=1)
    registry_poll_first: timedelta = timedelta(seconds=2)
    registry_poll_max: timedelta = timedelta(minutes=2)
    registry_callback_url: str | None = None
    # How long the registry may take to answer before a person follows it up
    # (the pilot city's registry promises an answer within one day).
    registry_deadline: timedelta = timedelta(hours=24)
    # History events one run may collect before it continues as new at its next
    # safe point (a new round, another wait on the registry); Temporal's hard
    # limit is 51,200, and replaying a short history stays fast.
    history_budget: int = 1500
    # How long a human task may wait; a reminder goes out at REMINDER_AT of it
    # and the task is escalated to the senior queue at the deadline.
    task_sla: dict[TaskKind, timedelta] = Field(
        default_factory=lambda: {
            TaskKind.DOCUMENT_REVIEW: timedelta(hours=8),
            TaskKind.APPROVAL: timedelta(hours=24),
            TaskKind.SECOND_APPROVAL: timedelta(hours=24),
            TaskKind.REGISTRY_FOLLOW_UP: timedelta(hours=48),
            TaskKind.INCIDENT: timedelta(hours=4),
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
    # Set when a run continues as new: where the case stood, so the next run
    # picks up exactly there.
    carried: CarriedState | None = None


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
    # Which open task this decides; empty: the one the decision kind points at
    # (`workflows.decisions.target_task`).
    task_id: str = ""


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


class Incident(BaseModel):
    """A step that gave up, as the case and its incident task show it."""

    step: Step
    error_type: str
    message: str
    attempts: int
    since: datetime
    skippable: bool = False
    # Raised beside the main flow (a message that would not go out): the case
    # keeps its status and carries on while a person looks.
    side: bool = False


class OpenTask(BaseModel):
    task_id: str
    kind: TaskKind
    round: int
    due_at: datetime | None = None
    escalated: bool = False
    # Only seniors may take it from the start (incidents go to the senior queue).
    senior_only: bool = False
    incident: Incident | None = None


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
    # Every task a person may act on now: the main flow's and any incident beside it.
    open_tasks: list[OpenTask] = Field(default_factory=list)
    run: int = 1
    # Every document the case was told of (the reconciler re-sends lost uploads).
    seen_documents: list[str] = Field(default_factory=list)


class Resume(StrEnum):
    """Where a continued run starts."""

    ROUND = "round"  # a new round: wait for documents, verify, review, decide
    REGISTRY_WAIT = "registry_wait"  # the registry has the request; wait for its answer


class CarriedState(BaseModel):
    """What one run hands the next when it continues as new."""

    resume: Resume
    run: int
    round: int
    documents: dict[DocType, str]
    risk: RiskResult | None = None
    approvals: list[str] = Field(default_factory=list)
    seen_requests: list[str] = Field(default_factory=list)
    task_seq: int = 0
    event_seq: int = 0
    rejection: str = ""
    registry_key: str | None = None
    registry_attempt: int = 1
    # Every document id the workflow has been told of: a re-sync adds only new ones.
    seen_documents: list[str] = Field(default_factory=list)
    # Messages not yet delivered; the next run sends them (their outbox keys make
    # a message the old run already sent a no-op).
    customer_queue: list[NotifyCustomerInput] = Field(default_factory=list)
    staff_queue: list[TaskSlaInput] = Field(default_factory=list)


class StallReport(BaseModel):
    """The reconciler found the case idle past its step's deadline."""

    step: str
    idle_since: datetime
    reason: str


# --- activity inputs -------------------------------------------------------


class RecordTransitionInput(BaseModel):
    """The case row moved to where the workflow is, and (unless `event` is empty:
    a step within a status) one audit record of it."""

    case_id: str
    status: CaseStatus
    step: str
    event: str = ""
    event_key: str
    actor: str = "system"
    details: dict = Field(default_factory=dict)
    risk_grade: RiskGrade | None = None
    # The row's round and missing documents, so the case page needs no workflow query.
    round: int | None = None
    missing_documents: list[DocType] | None = None


class Bookkept(BaseModel):
    """An activity input that also carries the case's bookkeeping since the last
    write: written first, in the same transaction as the activity's own work."""

    records: list[RecordTransitionInput] = Field(default_factory=list)


class RecordTransitionsInput(Bookkept):
    """Bookkeeping with no step of its own to ride on (a local activity)."""


class CaseRef(Bookkept):
    case_id: str


class RepaymentCheck(BaseModel):
    settled: bool
    settled_at: date | None = None
    outstanding_amount: str
    reason: str
    # Whether a guarantee company stands behind the loan (its release step runs only then).
    has_guarantor: bool = True


class ReviewDocumentInput(Bookkept):
    case_id: str
    document_id: str


class AssessRiskInput(Bookkept):
    case_id: str
    round: int
    reviews: list[DocumentReview]


class OpenTaskInput(Bookkept):
    case_id: str
    task_id: str
    kind: TaskKind
    round: int
    details: dict = Field(default_factory=dict)
    due_at: datetime | None = None
    queue: TaskQueue = TaskQueue.OPERATOR  # `senior` for incidents


class TaskSlaInput(BaseModel):
    case_id: str
    task_id: str
    kind: TaskKind
    stage: str  # "reminder", "escalation", "overdue" (again, each SLA period) or "incident"
    due_at: datetime
    incident: Incident | None = None


class CloseTaskInput(Bookkept):
    task_id: str
    cancelled: bool = False


class RecordDecisionInput(BaseModel):
    case_id: str
    task_id: str | None
    decision_ref: str
    request: DecisionRequest
    # Close the decided task in the same transaction (the workflow then needs no
    # close_task of its own).
    close_task: bool = False


class SubmitDeregistrationInput(Bookkept):
    case_id: str
    idempotency_key: str
    callback_url: str | None = None


class CheckDeregistrationInput(BaseModel):
    case_id: str
    idempotency_key: str


class SyncedDocuments(BaseModel):
    """The case's newest document of each type, as the database has them."""

    documents: dict[DocType, str]


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
