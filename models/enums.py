"""Closed vocabularies shared by the workflow, the database and the API."""

from __future__ import annotations

from enum import StrEnum


class CaseStatus(StrEnum):
    AWAITING_DOCUMENTS = "AWAITING_DOCUMENTS"
    IN_REVIEW = "IN_REVIEW"
    AWAITING_APPROVAL = "AWAITING_APPROVAL"
    DEREGISTERING = "DEREGISTERING"
    COMPLETED = "COMPLETED"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"

    @property
    def is_closed(self) -> bool:
        return self in CLOSED_STATUSES


CLOSED_STATUSES = frozenset({CaseStatus.COMPLETED, CaseStatus.REJECTED, CaseStatus.CANCELLED})
OPEN_STATUSES = tuple(s for s in CaseStatus if s not in CLOSED_STATUSES)


class DocType(StrEnum):
    SETTLEMENT_CERTIFICATE = "settlement_certificate"
    ID_CARD = "id_card"
    VEHICLE_REGISTRATION_CERTIFICATE = "vehicle_registration_certificate"
    DRIVING_LICENSE = "driving_license"


REQUIRED_DOC_TYPES = (
    DocType.SETTLEMENT_CERTIFICATE,
    DocType.ID_CARD,
    DocType.VEHICLE_REGISTRATION_CERTIFICATE,
)


class Role(StrEnum):
    OPERATOR = "operator"
    SENIOR = "senior"
    AUDITOR = "auditor"
    ADMIN = "admin"

    @property
    def may_decide(self) -> bool:
        return self in (Role.OPERATOR, Role.SENIOR, Role.ADMIN)


class DecisionKind(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    REQUEST_DOCUMENTS = "request_documents"
    # Answers to an incident (and "keep waiting" on a registry follow-up).
    RETRY = "retry"
    SKIP = "skip"
    CANCEL = "cancel"


class RiskGrade(StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"


class TaskKind(StrEnum):
    DOCUMENT_REVIEW = "document_review"
    APPROVAL = "approval"
    SECOND_APPROVAL = "second_approval"
    REGISTRY_FOLLOW_UP = "registry_follow_up"
    # A step gave up: a person retries it, skips it (where allowed) or ends the case.
    INCIDENT = "incident"


class Step(StrEnum):
    """The steps that can give up and become an incident, by what they were doing."""

    RECORD = "record"
    VERIFY_REPAYMENT = "verify_repayment"
    OCR_REVIEW = "ocr_review"
    RISK_CHECK = "risk_check"
    HUMAN_TASK = "human_task"
    GUARANTOR_RELEASE = "guarantor_release"
    SUBMIT_DEREGISTRATION = "submit_deregistration"
    AWAIT_DEREGISTRATION = "await_deregistration"
    NOTIFY_CUSTOMER = "notify_customer"
    STALLED = "stalled"

    @property
    def skippable(self) -> bool:
        # Skipping loses nothing a release needs: an unread document goes to a
        # person's review, a message or a letter can be sent another way.
        return self in SKIPPABLE_STEPS


SKIPPABLE_STEPS = frozenset(
    {Step.OCR_REVIEW, Step.GUARANTOR_RELEASE, Step.NOTIFY_CUSTOMER, Step.STALLED}
)


class TaskState(StrEnum):
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


class TaskQueue(StrEnum):
    """Who may take a task: anyone who decides, or (incidents, and tasks past their
    deadline) only seniors; `models.rules` says which roles take from which queue."""

    OPERATOR = "operator"
    SENIOR = "senior"


class SlaStage(StrEnum):
    """Where a human task stands against its deadline (`TaskSlaInput.stage`).

    On the wire OVERDUE carries the period it marks, `overdue-2`, `overdue-3`, …
    (once each SLA period after the escalation), so each one is recorded once."""

    REMINDER = "reminder"
    ESCALATION = "escalation"
    OVERDUE = "overdue"
    INCIDENT = "incident"

    @classmethod
    def of(cls, stage: str) -> SlaStage:
        """The stage a wire value names: `overdue-N` is OVERDUE."""
        base, _, period = stage.partition("-")
        if period and (base != cls.OVERDUE or not period.isdigit()):
            raise ValueError(f"{stage!r} is not an SLA stage")
        return cls(base)

    @classmethod
    def overdue(cls, period: int) -> str:
        """The wire value of the `period`-th overdue mark (2 is the first after the escalation)."""
        return f"{cls.OVERDUE.value}-{period}"


class OutboxStatus(StrEnum):
    """An outbox row: `pending` until delivered (`sent`), `failed` once refused for good."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class LoanStatus(StrEnum):
    ACTIVE = "active"
    SETTLED = "settled"


class Milestone(StrEnum):
    """Moments the customer is told about; each is sent at most once per round."""

    RECEIVED = "received"
    DOCUMENTS_MISSING = "documents_missing"
    APPROVED = "approved"
    COMPLETED = "completed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    # Cancelled by the lender (an operator, with a reason), not for want of documents.
    WITHDRAWN = "withdrawn"


class RegistryOutcome(StrEnum):
    PENDING = "PENDING"
    COMPLETED = "COMPLETED"
    REJECTED = "REJECTED"


class NotificationChannel(StrEnum):
    SMS = "sms"
    EMAIL = "email"
