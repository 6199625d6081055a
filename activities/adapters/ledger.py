"""The loan ledger. Here it is the `loans` table the lender imports into; a
core-banking connector would implement the same `Ledger` protocol."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Protocol

from pydantic import BaseModel

from kernel.db import SessionFactory
from models.tables import Loan


class LoanRecord(BaseModel):
    contract_no: str
    borrower_name: str
    id_number: str
    phone: str
    plate_no: str
    vin: str
    lender: str
    status: str
    outstanding_amount: Decimal
    settled_at: date | None
    guarantor: str | None = None
    guarantor_email: str | None = None


class Ledger(Protocol):
    async def get_loan(self, contract_no: str) -> LoanRecord | None: ...


class DatabaseLedger:
    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    async def get_loan(self, contract_no: str) -> LoanRecord | None:
        async with self._sessions() as session:
            loan = await session.get(Loan, contract_no)
            return LoanRecord.model_validate(loan, from_attributes=True) if loan else None
