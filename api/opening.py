"""Opening a case: the row and its audit record first, then the workflow; an
`Idempotency-Key` makes a retry return the same case and finish the start."""

from __future__ import annotations

import hashlib

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client
from temporalio.service import RPCError

from api.errors import ApiError, log
from api.inputs import CaseCreate
from api.records import case_is_open, new_id
from kernel.case_client import callback_url, case_input, start_case
from kernel.settings import Settings
from models.audit import append_event, canonical_json
from models.enums import CaseStatus
from models.tables import Case, IdempotencyKey, Loan, Operator

OPEN_CONTRACT_INDEX = "uq_cases_open_contract"
IDEMPOTENCY_PKEY = "idempotency_keys_pkey"


def request_hash(body: CaseCreate) -> str:
    return hashlib.sha256(canonical_json(body.model_dump(mode="json")).encode()).hexdigest()


def violated_constraint(error: IntegrityError) -> str | None:
    """The constraint asyncpg reports (by name, never by parsing the message)."""
    orig = getattr(error, "orig", None)
    for candidate in (getattr(orig, "__cause__", None), orig):
        name = getattr(candidate, "constraint_name", None)
        if name:
            return name
    return None


async def _replayed(
    session: AsyncSession, key: str, operator: Operator, digest: str
) -> Case | None:
    remembered = await session.get(IdempotencyKey, (key, operator.name))
    if remembered is None:
        return None
    if remembered.request_hash != digest:
        raise ApiError(
            422,
            "idempotency_key_reused",
            f"Idempotency-Key {key!r} was already used with a different request body",
        )
    return await session.get(Case, remembered.case_id)


async def _refuse_unless_openable(session: AsyncSession, contract_no: str) -> None:
    if await session.get(Loan, contract_no) is None:
        raise ApiError(422, "unknown_loan", f"unknown loan contract {contract_no}")
    open_case = (
        await session.exec(
            select(Case.case_id).where(Case.loan_contract_no == contract_no, case_is_open())
        )
    ).first()
    if open_case is not None:
        raise _already_open(contract_no, open_case[0])


def _already_open(contract_no: str, case_id: str | None = None) -> ApiError:
    which = f"case {case_id}" if case_id else "a case"
    return ApiError(409, "case_already_open", f"{which} is already open for contract {contract_no}")


async def open_case(
    session: AsyncSession, operator: Operator, body: CaseCreate, key: str | None
) -> tuple[Case, bool]:
    """Insert the case (or find the one this key made); returns (case, created)."""
    digest = request_hash(body)
    if key and (case := await _replayed(session, key, operator, digest)):
        return case, False
    await _refuse_unless_openable(session, body.loan_contract_no)
    case = Case(
        case_id=new_id("RC-"),
        loan_contract_no=body.loan_contract_no,
        borrower_name=body.borrower.name,
        borrower_id_number=body.borrower.id_number,
        borrower_phone=body.borrower.phone,
        borrower_email=body.borrower.email,
        plate_no=body.vehicle.plate_no,
        vin=body.vehicle.vin,
        status=CaseStatus.AWAITING_DOCUMENTS.value,
        step="opened",
        branch=operator.branch,
        opened_by=operator.name,
    )
    try:
        session.add(case)
        if key:
            session.add(
                IdempotencyKey(
                    key=key, operator=operator.name, request_hash=digest, case_id=case.case_id
                )
            )
        await append_event(
            session,
            stream=case.case_id,
            event="case.opened",
            actor=operator.name,
            # No ID or phone numbers here: the audit trail is exported and read widely.
            details={
                "loan_contract_no": case.loan_contract_no,
                "plate_no": case.plate_no,
                "vin": case.vin,
                "branch": case.branch,
            },
            event_key=f"{case.case_id}:opened",
        )
        await session.commit()
    except IntegrityError as error:
        await session.rollback()
        constraint = violated_constraint(error)
        if constraint == OPEN_CONTRACT_INDEX:
            raise _already_open(body.loan_contract_no) from None
        if key and constraint == IDEMPOTENCY_PKEY:
            # A concurrent retry with the same key won the race: answer with its case.
            replayed = await _replayed(session, key, operator, digest)
            if replayed is not None:
                return replayed, False
        raise
    return case, True


async def ensure_started(client: Client, case: Case, settings: Settings) -> None:
    """Start the case's workflow unless it is closed; starting twice is harmless."""
    if CaseStatus(case.status).is_closed:
        return  # a replay must never start a fresh run for a finished case
    try:
        await start_case(client, case_input(case, callback_url(settings)))
    except RPCError as error:
        log.warning("workflow start failed", case_id=case.case_id, error=error.message)
        raise ApiError(
            503,
            "temporal_unavailable",
            f"case {case.case_id} was saved but its workflow could not be started yet; "
            "retry with the same Idempotency-Key",
        ) from None
