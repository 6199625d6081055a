"""The loan ledger import; cases waiting on an imported loan are woken at once."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, File, Request, UploadFile
from temporalio.client import Client
from temporalio.service import RPCError

from api.auth import LedgerOperator
from api.bodies import read_body_capped, read_capped, too_large
from api.deps import OptionalTemporalDep, SessionFactoryDep, SettingsDep
from api.errors import ApiError, log
from api.schemas import LoansImported
from kernel.case_client import signal_ledger_updated
from kernel.db import SessionFactory
from models.loans import LedgerImportError, open_cases_for, read_loans_csv, upsert_loans

router = APIRouter(prefix="/loans", tags=["loans"])

# Bodies FastAPI reads as a form before the handler runs.
FORM_MEDIA_TYPES = frozenset({"multipart/form-data", "application/x-www-form-urlencoded"})
# Contracts per open-case lookup: well under the 32,767 parameters of one statement.
LOOKUP_BATCH = 1000


@router.post(
    "/import",
    response_model=LoansImported,
    openapi_extra={"requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def import_loans(
    operator: LedgerOperator,
    request: Request,
    sessions: SessionFactoryDep,
    client: OptionalTemporalDep,
    settings: SettingsDep,
    file: Annotated[UploadFile | None, File(description="the ledger CSV")] = None,
) -> LoansImported:
    """Upsert the loan ledger from a CSV (multipart `file` or a text/csv body)."""
    limit = settings.max_upload_bytes
    if file is not None:
        data = await read_capped(file, limit)
    elif _media_type(request) in FORM_MEDIA_TYPES:
        # FastAPI has consumed the form already; without `file` there is no CSV left to read.
        raise ApiError(
            422,
            "validation_error",
            "file: field required; send the CSV as the multipart field `file` "
            "or as a text/csv body",
        )
    else:
        data = await read_body_capped(request, limit, too_large)
    rows = await asyncio.to_thread(_parse, data)
    imported = await upsert_loans(sessions, rows, actor=operator.name)
    log.info("ledger imported", rows=imported, operator=operator.name)
    waiting = await _waiting_cases(sessions, [row["contract_no"] for row in rows])
    return LoansImported(imported=imported, cases_signalled=await _wake(client, waiting))


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def _waiting_cases(sessions: SessionFactory, contracts: list[str]) -> dict[str, list[str]]:
    """Open cases per contract, looked up in batches: one IN list per file would pass
    PostgreSQL's 32,767 bind parameters for a large ledger, after the import committed."""
    waiting: dict[str, list[str]] = {}
    for start in range(0, len(contracts), LOOKUP_BATCH):
        waiting.update(await open_cases_for(sessions, contracts[start : start + LOOKUP_BATCH]))
    return waiting


def _parse(data: bytes) -> list[dict]:
    if not data.strip():
        raise ApiError(422, "empty_file", "the CSV is empty")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ApiError(
            422, "ledger_import_error", f"the CSV is not UTF-8 (byte {error.start})"
        ) from None
    try:
        return read_loans_csv(text)
    except LedgerImportError as error:
        raise ApiError(422, "ledger_import_error", str(error)) from None


async def _wake(client: Client | None, waiting: dict[str, list[str]]) -> int:
    """Signal waiting cases; a miss only delays them until their daily re-check."""
    if client is None:
        if waiting:
            log.warning("ledger imported but the workflow engine is away", cases=len(waiting))
        return 0
    told = 0
    for contract_no, case_ids in waiting.items():
        try:
            told += await signal_ledger_updated(client, case_ids, contract_no)
        except RPCError as error:
            log.warning("ledger signal failed", contract_no=contract_no, error=error.message)
    return told
