"""The loan ledger import (`jieya loans import`, `POST /loans/import`)."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal, InvalidOperation

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from kernel.db import SessionFactory
from models.audit import SYSTEM_STREAM, append_event
from models.enums import LoanStatus
from models.identity import check_id_number, check_plate, check_vin
from models.tables import Loan, utcnow

LOAN_COLUMNS = [
    "contract_no",
    "borrower_name",
    "id_number",
    "phone",
    "plate_no",
    "vin",
    "lender",
    "status",
    "outstanding_amount",
    "settled_at",
]


class LedgerImportError(ValueError):
    """A CSV the ledger must not take; the message names the line and column."""


def parse_loan_row(row: dict[str, str], line: int) -> dict:
    def fail(column: str, why: str):
        raise LedgerImportError(f"line {line}, column {column}: {why}")

    for column in LOAN_COLUMNS:
        if column not in row:
            fail(column, "missing column")
    values = {k: (row[k] or "").strip() for k in LOAN_COLUMNS}
    for column in (
        "contract_no",
        "borrower_name",
        "id_number",
        "phone",
        "plate_no",
        "vin",
        "lender",
    ):
        if not values[column]:
            fail(column, "must not be empty")
    values["id_number"] = values["id_number"].upper()
    values["vin"] = values["vin"].upper()
    if not (check := check_id_number(values["id_number"])).valid:
        fail("id_number", check.reason or "invalid")
    if not (check := check_vin(values["vin"])).valid:
        fail("vin", check.reason or "invalid")
    if not (check := check_plate(values["plate_no"])).valid:
        fail("plate_no", check.reason or "invalid")
    try:
        values["status"] = LoanStatus(values["status"].lower()).value
    except ValueError:
        fail("status", f"{values['status']!r} is not 'active' or 'settled'")
    try:
        values["outstanding_amount"] = Decimal(values["outstanding_amount"] or "0")
    except InvalidOperation:
        fail("outstanding_amount", f"{values['outstanding_amount']!r} is not a number")
    if values["outstanding_amount"] < 0:
        fail("outstanding_amount", "must not be negative")
    try:
        values["settled_at"] = (
            date.fromisoformat(values["settled_at"]) if values["settled_at"] else None
        )
    except ValueError:
        fail("settled_at", f"{values['settled_at']!r} is not an ISO date (YYYY-MM-DD)")
    if values["status"] == LoanStatus.SETTLED and values["settled_at"] is None:
        fail("settled_at", "a settled loan needs its settlement date")
    values["guarantor"] = (row.get("guarantor") or "").strip() or None
    values["guarantor_email"] = (row.get("guarantor_email") or "").strip() or None
    if values["guarantor_email"] and not values["guarantor"]:
        fail("guarantor", "a guarantor e-mail needs the guarantor's name")
    if values["guarantor_email"] and "@" not in values["guarantor_email"]:
        fail("guarantor_email", f"{values['guarantor_email']!r} is not an e-mail address")
    return values


def read_loans_csv(text: str) -> list[dict]:
    """Parse and validate the whole file first: a bad line imports nothing."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    missing = [c for c in LOAN_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise LedgerImportError(f"missing columns: {', '.join(missing)}")
    try:
        rows = [parse_loan_row(row, number) for number, row in enumerate(reader, start=2)]
    except csv.Error as error:
        raise LedgerImportError(f"not a readable CSV file: {error}") from error
    seen: set[str] = set()
    for number, row in enumerate(rows, start=2):
        if row["contract_no"] in seen:
            raise LedgerImportError(f"line {number}: contract {row['contract_no']} appears twice")
        seen.add(row["contract_no"])
    return rows


async def upsert_loans(sessions: SessionFactory, rows: list[dict], actor: str = "cli") -> int:
    if not rows:
        return 0
    now = utcnow()
    async with sessions() as session, session.begin():
        for row in rows:
            values = {**row, "updated_at": now}
            await session.exec(
                insert(Loan)
                .values(**values)
                .on_conflict_do_update(
                    index_elements=["contract_no"],
                    set_={k: v for k, v in values.items() if k != "contract_no"},
                )
            )
        await append_event(
            session,
            stream=SYSTEM_STREAM,
            event="ledger.imported",
            actor=actor,
            details={"rows": len(rows), "contracts": [r["contract_no"] for r in rows][:50]},
            event_key=f"ledger:{now.isoformat()}:{len(rows)}",
        )
    return len(rows)


async def open_cases_for(sessions: SessionFactory, contracts: list[str]) -> dict[str, list[str]]:
    """Open cases per contract: the ones to wake after a ledger change."""
    from models.enums import OPEN_STATUSES
    from models.tables import Case

    async with sessions() as session:
        rows = await session.exec(
            select(Case.loan_contract_no, Case.case_id).where(
                Case.loan_contract_no.in_(contracts),
                Case.status.in_([s.value for s in OPEN_STATUSES]),
            )
        )
        found: dict[str, list[str]] = {}
        for contract, case_id in rows:
            found.setdefault(contract, []).append(case_id)
        return found
