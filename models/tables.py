"""PostgreSQL tables (SQLModel). The workflow is the source of truth for a live
case; these rows are what people search, audit and keep after Temporal forgets."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Numeric,
    String,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from models.enums import (
    OPEN_STATUSES,
    CaseStatus,
    DecisionKind,
    DocType,
    LoanStatus,
    NotificationChannel,
    OutboxStatus,
    RegistryOutcome,
    RiskGrade,
    Role,
    TaskKind,
    TaskQueue,
    TaskState,
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _timestamp(nullable: bool = False, index: bool = False) -> Any:
    # A fresh Column per call: SQLAlchemy columns cannot be shared between tables.
    column = Column(DateTime(timezone=True), nullable=nullable, index=index)
    if nullable:
        return Field(default=None, sa_column=column)
    return Field(default_factory=utcnow, sa_column=column)


class Vocabulary(TypeDecorator):
    """A VARCHAR(length) that Python reads and writes as one of our enums.

    The column stays the plain VARCHAR the migrations made (no database enum to
    migrate when a vocabulary grows); writers may pass the enum or its value, and
    a value outside the vocabulary is refused before it reaches the database."""

    impl = String
    cache_ok = True

    def __init__(self, enum: type[StrEnum], length: int) -> None:
        super().__init__(length)
        self.enum = enum
        self.length = length

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: Any, dialect: Any) -> StrEnum | None:
        return None if value is None else self.enum(value)

    @property
    def python_type(self) -> type:
        return self.enum


def _vocabulary(enum: type[StrEnum], length: int, **field: Any) -> Any:
    return Field(sa_type=Vocabulary(enum, length), **field)


def _json(default_factory=dict) -> Any:
    return Field(default_factory=default_factory, sa_column=Column(JSONB, nullable=False))


_OPEN_STATUS_SQL = ", ".join(f"'{s.value}'" for s in OPEN_STATUSES)


class Loan(SQLModel, table=True):
    """The lender's loan ledger, as imported from the core banking system."""

    __tablename__ = "loans"

    contract_no: str = Field(primary_key=True, max_length=64)
    borrower_name: str = Field(max_length=64)
    id_number: str = Field(max_length=18)
    phone: str = Field(max_length=20)
    plate_no: str = Field(max_length=10, index=True)
    vin: str = Field(max_length=17, index=True)
    lender: str = Field(max_length=128)
    status: LoanStatus = _vocabulary(LoanStatus, 16)
    outstanding_amount: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))
    settled_at: date | None = None
    # Third-party guarantee company, when the loan had one (optional CSV columns).
    guarantor: str | None = Field(default=None, max_length=128)
    guarantor_email: str | None = Field(default=None, max_length=254)
    updated_at: datetime = _timestamp()


class Operator(SQLModel, table=True):
    __tablename__ = "operators"

    name: str = Field(primary_key=True, max_length=64)
    role: Role = _vocabulary(Role, 16)
    branch: str = Field(default="HQ", max_length=32)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = _timestamp()
    expires_at: datetime | None = _timestamp(nullable=True)
    revoked_at: datetime | None = _timestamp(nullable=True)


class Case(SQLModel, table=True):
    __tablename__ = "cases"
    __table_args__ = (
        # One loan contract has at most one open case; closed cases stay as history.
        Index(
            "uq_cases_open_contract",
            "loan_contract_no",
            unique=True,
            postgresql_where=text(f"status IN ({_OPEN_STATUS_SQL})"),
        ),
        Index("ix_cases_status_created", "status", "created_at"),
        Index("ix_cases_branch_created", "branch", "created_at", "case_id"),
        Index("ix_cases_created_case", "created_at", "case_id"),
        # Text search on contract number, plate and name stays fast at 100k+ cases.
        Index(
            "ix_cases_search_trgm",
            text("(loan_contract_no || ' ' || plate_no || ' ' || borrower_name) gin_trgm_ops"),
            postgresql_using="gin",
        ),
    )

    case_id: str = Field(primary_key=True, max_length=32)
    loan_contract_no: str = Field(
        sa_column=Column(String(64), ForeignKey("loans.contract_no"), nullable=False, index=True)
    )
    borrower_name: str = Field(max_length=64)
    borrower_id_number: str = Field(max_length=18)
    borrower_phone: str = Field(max_length=20)
    borrower_email: str | None = Field(default=None, max_length=254)
    plate_no: str = Field(max_length=10, index=True)
    vin: str = Field(max_length=17, index=True)
    status: CaseStatus = _vocabulary(CaseStatus, 24)
    step: str = Field(max_length=64)
    # Written with every step by the workflow, so the case page needs no query to it.
    round: int = Field(default=1, sa_column_kwargs={"server_default": text("1")})
    missing_documents: list = Field(
        default_factory=list,
        sa_column=Column(JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    )
    risk_grade: RiskGrade | None = _vocabulary(RiskGrade, 8, default=None, index=True)
    branch: str = Field(default="HQ", max_length=32, index=True)
    # Denormalised from the open task so the inbox filters need no join.
    assignee: str | None = Field(default=None, max_length=64, index=True)
    sla_breached: bool = Field(
        default=False, index=True, sa_column_kwargs={"server_default": text("false")}
    )
    opened_by: str = Field(max_length=64)
    created_at: datetime = _timestamp(index=True)
    updated_at: datetime = _timestamp()
    closed_at: datetime | None = _timestamp(nullable=True)


class IdempotencyKey(SQLModel, table=True):
    """Remembers which case a client's `Idempotency-Key` created."""

    __tablename__ = "idempotency_keys"

    key: str = Field(primary_key=True, max_length=128)
    operator: str = Field(primary_key=True, max_length=64)
    request_hash: str = Field(max_length=64)
    case_id: str = Field(foreign_key="cases.case_id", max_length=32)
    created_at: datetime = _timestamp()


class Document(SQLModel, table=True):
    __tablename__ = "documents"
    __table_args__ = (Index("ix_documents_case_type", "case_id", "doc_type"),)

    document_id: str = Field(primary_key=True, max_length=32)
    case_id: str = Field(foreign_key="cases.case_id", max_length=32)
    doc_type: DocType = _vocabulary(DocType, 40)
    sha256: str = Field(max_length=64, index=True)
    filename: str = Field(max_length=255)
    media_type: str = Field(max_length=64)
    size_bytes: int
    pages: int = 1
    uploaded_by: str = Field(max_length=64)
    created_at: datetime = _timestamp()


class OcrResult(SQLModel, table=True):
    __tablename__ = "ocr_results"
    __table_args__ = (UniqueConstraint("document_id", name="uq_ocr_results_document"),)

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    document_id: str = Field(foreign_key="documents.document_id", max_length=32)
    case_id: str = Field(foreign_key="cases.case_id", max_length=32, index=True)
    sha256: str = Field(max_length=64, index=True)
    doc_type: DocType = _vocabulary(DocType, 40)
    engine: str = Field(max_length=32)
    fields: dict = _json()
    needs_review: bool
    issues: list = _json(list)
    mismatches: list = _json(list)
    ms: int
    # True when the reading came from the content cache, not from the engine.
    from_cache: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})
    created_at: datetime = _timestamp()


class OcrCacheEntry(SQLModel, table=True):
    """What an engine read in a file, by content: the same bytes are never read twice."""

    __tablename__ = "ocr_cache"

    sha256: str = Field(primary_key=True, max_length=64)
    doc_type: DocType = _vocabulary(DocType, 40, primary_key=True)
    engine: str = Field(primary_key=True, max_length=32)
    fields: dict = _json()
    needs_review: bool
    issues: list = _json(list)
    ms: int
    created_at: datetime = _timestamp()


class RiskAssessment(SQLModel, table=True):
    __tablename__ = "risk_assessments"

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    case_id: str = Field(foreign_key="cases.case_id", max_length=32, index=True)
    round: int = 1
    grade: RiskGrade = _vocabulary(RiskGrade, 8)
    reasons: list = _json(list)
    required_approvals: int = 1
    created_at: datetime = _timestamp()


class HumanTask(SQLModel, table=True):
    __tablename__ = "human_tasks"
    __table_args__ = (Index("ix_human_tasks_state_kind", "state", "kind"),)

    task_id: str = Field(primary_key=True, max_length=48)
    case_id: str = Field(foreign_key="cases.case_id", max_length=32, index=True)
    kind: TaskKind = _vocabulary(TaskKind, 32)
    state: TaskState = _vocabulary(TaskState, 16)
    round: int = 1
    # Which queue may take it: `operator`, or `senior` once escalated.
    queue: TaskQueue = _vocabulary(
        TaskQueue,
        16,
        default=TaskQueue.OPERATOR,
        sa_column_kwargs={"server_default": TaskQueue.OPERATOR.value},
    )
    assignee: str | None = Field(default=None, max_length=64, index=True)
    claimed_at: datetime | None = _timestamp(nullable=True)
    details: dict = _json()
    due_at: datetime | None = _timestamp(nullable=True, index=True)
    reminded_at: datetime | None = _timestamp(nullable=True)
    escalated_at: datetime | None = _timestamp(nullable=True)
    created_at: datetime = _timestamp()
    closed_at: datetime | None = _timestamp(nullable=True)


class Decision(SQLModel, table=True):
    __tablename__ = "decisions"

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    # `{task_id}:{decision}:{actor}`: a 48-character task id and a 64-character name fit.
    decision_ref: str = Field(max_length=200, unique=True)
    case_id: str = Field(foreign_key="cases.case_id", max_length=32, index=True)
    task_id: str | None = Field(default=None, max_length=48)
    actor: str = Field(max_length=64)
    role: Role = _vocabulary(Role, 16)
    decision: DecisionKind = _vocabulary(DecisionKind, 24)
    comment: str = Field(default="", max_length=2000)
    created_at: datetime = _timestamp()


class RegistryRequest(SQLModel, table=True):
    __tablename__ = "registry_requests"

    idempotency_key: str = Field(primary_key=True, max_length=96)
    case_id: str = Field(foreign_key="cases.case_id", max_length=32, index=True)
    registry_ref: str | None = Field(default=None, max_length=64)
    status: RegistryOutcome = _vocabulary(RegistryOutcome, 16)
    reason: str | None = Field(default=None, max_length=500)
    attempts: int = 0
    submitted_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()


class RegistryCallbackReceipt(SQLModel, table=True):
    """Every registry callback taken, by its id: a replayed delivery is refused."""

    __tablename__ = "registry_callbacks"

    callback_id: str = Field(primary_key=True, max_length=128)
    idempotency_key: str = Field(max_length=96, index=True)
    status: RegistryOutcome = _vocabulary(RegistryOutcome, 16)
    received_at: datetime = _timestamp()


class Notification(SQLModel, table=True):
    """Outbox: a row exists before the message leaves, so a retry never sends twice."""

    __tablename__ = "notifications"

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    dedupe_key: str = Field(max_length=160, unique=True)
    case_id: str = Field(foreign_key="cases.case_id", max_length=32, index=True)
    milestone: str = Field(max_length=32)
    channel: NotificationChannel = _vocabulary(NotificationChannel, 8)
    recipient: str = Field(max_length=254)
    # Kept so the reconciler can send an e-mail again exactly as it was written.
    subject: str | None = Field(default=None, max_length=200)
    body: str
    # `pending` until delivered (`sent`); `failed` once the provider refused it for good.
    status: OutboxStatus = _vocabulary(OutboxStatus, 16, default=OutboxStatus.PENDING)
    attempts: int = 0
    provider_ref: str | None = Field(default=None, max_length=96)
    # The last delivery attempt and why it did not go out: the reconciler resends
    # only rows nobody has tried for a while.
    last_attempt_at: datetime | None = _timestamp(nullable=True)
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = _timestamp()
    sent_at: datetime | None = _timestamp(nullable=True)


class CaseHistory(SQLModel, table=True):
    """A closed case's Temporal history, kept after the namespace's retention drops it."""

    __tablename__ = "case_histories"

    case_id: str = Field(primary_key=True, max_length=32)
    run_id: str = Field(primary_key=True, max_length=64)
    workflow_type: str = Field(max_length=64)
    status: str = Field(max_length=24)
    events: int
    history: dict = _json()
    closed_at: datetime | None = _timestamp(nullable=True, index=True)
    archived_at: datetime = _timestamp()


class AuditEvent(SQLModel, table=True):
    """Append-only, hash-chained per stream (a case id, or `system`)."""

    __tablename__ = "audit_events"
    __table_args__ = (UniqueConstraint("stream", "seq", name="uq_audit_events_stream_seq"),)

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    stream: str = Field(max_length=32, index=True)
    seq: int
    event_key: str = Field(max_length=160, unique=True)
    event: str = Field(max_length=48)
    actor: str = Field(max_length=64)
    details: dict = _json()
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)
    created_at: datetime = _timestamp()
