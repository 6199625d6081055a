"""Request bodies. Identifiers are checked with the same rules the OCR and risk checks use,
so a case can only be opened with numbers that could exist."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from models.enums import DecisionKind, DocType, RegistryOutcome
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
    documents: list[DocType] = Field(default_factory=list)


class RegistryCallback(_Body):
    idempotency_key: str = Field(min_length=1, max_length=96)
    registry_ref: str | None = Field(default=None, max_length=64)
    status: RegistryOutcome
    reason: str | None = Field(default=None, max_length=500)
