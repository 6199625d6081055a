"""Request bodies. Identifiers are checked with the same rules the OCR and risk checks use,
so a case can only be opened with numbers that could exist."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from models.enums import (
    CaseStatus,
    DecisionKind,
    DocType,
    RegistryOutcome,
    RiskGrade,
    TaskKind,
    TaskQueue,
)
from models.identity import check_id_number, check_plate, check_vin

MOBILE = re.compile(r"^1[3-9]\d{9}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


class _Body(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value):
        # PostgreSQL cannot store NUL; refused here it is a 422, not a stuck activity later.
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


class BorrowerIn(_Body):
    name: str = Field(min_length=1, max_length=64)
    id_number: str = Field(max_length=32)
    phone: str = Field(max_length=20)
    email: str | None = Field(default=None, max_length=254)

    @field_validator("id_number")
    @classmethod
    def _id_number(cls, value: str) -> str:
        check = check_id_number(value)
        if not check.valid:
            raise ValueError(f"invalid ID number: {check.reason}")
        return check.normalized or value

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        if not MOBILE.match(value):
            raise ValueError("must be a mainland mobile number: 11 digits starting 13-19")
        return value

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not EMAIL.match(value):
            raise ValueError("is not an e-mail address")
        return value


class VehicleIn(_Body):
    plate_no: str = Field(max_length=16)
    vin: str = Field(max_length=32)

    @field_validator("plate_no")
    @classmethod
    def _plate(cls, value: str) -> str:
        check = check_plate(value)
        if not check.valid:
            raise ValueError(f"invalid plate number: {check.reason}")
        return check.normalized or value

    @field_validator("vin")
    @classmethod
    def _vin(cls, value: str) -> str:
        check = check_vin(value)
        if not check.valid:
            raise ValueError(f"invalid VIN: {check.reason}")
        return check.normalized or value


class CaseCreate(_Body):
    loan_contract_no: str = Field(min_length=1, max_length=64)
    borrower: BorrowerIn
    vehicle: VehicleIn


class DecisionIn(_Body):
    decision: DecisionKind
    comment: str = Field(default="", max_length=2000)
    # Which documents to upload again on `request_documents`; empty means all required.
    documents: list[DocType] = Field(default_factory=list, max_length=len(DocType))
    task_id: str | None = Field(
        default=None,
        max_length=48,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="the open task this decides (default: the one the decision kind fits)",
    )

    @field_validator("documents")
    @classmethod
    def _each_once(cls, value: list[DocType]) -> list[DocType]:
        return list(dict.fromkeys(value))


class RegistryCallback(_Body):
    # The registry's id for this callback: a second delivery with it is refused as a replay.
    # Absent (an older registry), the receiver uses the sha256 of the raw body instead.
    callback_id: str | None = Field(default=None, min_length=1, max_length=128)
    idempotency_key: str = Field(min_length=1, max_length=96)
    registry_ref: str | None = Field(default=None, max_length=64)
    status: RegistryOutcome
    reason: str | None = Field(default=None, max_length=500)


class TaskAssign(_Body):
    operator: str = Field(min_length=1, max_length=64, description="who should take the task")


# --- query parameters --------------------------------------------------------


def _as_utc(value: datetime | None) -> datetime | None:
    # A time without a zone means UTC, as every timestamp we store is.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def encode_cursor(created_at: datetime, case_id: str) -> str:
    """Opaque to clients: where the last page ended, in the list's own order."""
    raw = json.dumps([created_at.isoformat(), case_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        stamp, case_id = json.loads(raw)
        created_at = datetime.fromisoformat(stamp)
    except (ValueError, TypeError) as error:  # binascii.Error and JSONDecodeError included
        raise ValueError("is not a cursor this API returned") from error
    if created_at.tzinfo is None or not isinstance(case_id, str) or len(case_id) > 32:
        raise ValueError("is not a cursor this API returned")
    return created_at, case_id


_NO_NUL = r"^[^\x00]*$"


class CaseSearch(BaseModel):
    """`GET /cases` filters; every one narrows the list, and none widens the caller's scope."""

    status: list[CaseStatus] = Field(
        default_factory=list, max_length=len(CaseStatus), description="repeatable"
    )
    risk_grade: RiskGrade | None = None
    branch: str | None = Field(default=None, max_length=32, pattern=_NO_NUL)
    assignee: str | None = Field(default=None, max_length=64, pattern=_NO_NUL)
    created_from: datetime | None = Field(default=None, description="inclusive, ISO 8601")
    created_to: datetime | None = Field(default=None, description="exclusive, ISO 8601")
    sla_breached: bool | None = None
    incident: bool | None = Field(
        default=None, description="true: only cases with an open incident; false: none"
    )
    q: str | None = Field(
        default=None,
        max_length=64,
        pattern=_NO_NUL,
        description="part of the contract number, plate or borrower name",
    )
    cursor: str | None = Field(
        default=None, max_length=256, description="`next_cursor` of the last page"
    )
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(
        default=0, ge=0, le=100_000, description="prefer `cursor`: offsets drift as cases arrive"
    )

    @field_validator("created_from")
    @classmethod
    def _from_utc(cls, value: datetime | None) -> datetime | None:
        return _as_utc(value)

    @field_validator("created_to")
    @classmethod
    def _to_after_from(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        value, start = _as_utc(value), info.data.get("created_from")
        if value is not None and start is not None and value <= start:
            raise ValueError("must be later than created_from")
        return value

    @field_validator("cursor")
    @classmethod
    def _cursor(cls, value: str | None) -> str | None:
        if value:
            decode_cursor(value)
        return value or None

    @property
    def after(self) -> tuple[datetime, str] | None:
        return decode_cursor(self.cursor) if self.cursor else None

    @property
    def text(self) -> str | None:
        return self.q.strip() if self.q and self.q.strip() else None


class TaskFilter(BaseModel):
    """`GET /tasks` filters, applied inside what the caller's role and branch may see."""

    mine: bool = Field(default=False, description="only tasks the caller holds")
    assignee: str | None = Field(default=None, max_length=64, pattern=_NO_NUL)
    kind: TaskKind | None = None
    overdue: bool | None = Field(default=None, description="past `due_at` (true) or not (false)")
    queue: TaskQueue | None = None
    branch: str | None = Field(default=None, max_length=32, pattern=_NO_NUL)
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=100_000)
