"""Closed vocabularies shared by the workflow, the database and the API."""

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


class RiskGrade(StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"


class TaskKind(StrEnum):
    DOCUMENT_REVIEW = "document_review"
    APPROVAL = "approval"
    SECOND_APPROVAL = "second_approval"
    REGISTRY_FOLLOW_UP = "registry_follow_up"


class TaskState(StrEnum):
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


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


class RegistryOutcome(StrEnum):
    PENDING = "PENDING"
    COMPLETED = "COMPLETED"
    REJECTED = "REJECTED"


class NotificationChannel(StrEnum):
    SMS = "sms"
    EMAIL = "email"
