"""The loan ledger import; cases waiting on an imported loan are woken at once."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, File, Request, UploadFile
from temporalio.client import Client
from temporalio.service import RPCError

from api.auth import LedgerOperator
from api.deps import (
    OptionalTemporalDep,
    SessionFactoryDep,
    SettingsDep,
    read_capped,
    too_large,
)
from api.errors import ApiError, log
from api.views import LoansImported
from models.loans import LedgerImportError, open_cases_for, read_loans_csv, upsert_loans
from workflows.client import signal_ledger_updated

router = APIRouter(prefix="/loans", tags=["loans"])


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
    data = await read_capped(file, limit) if file is not None else await request.body()
    if len(data) > limit:
        raise too_large(limit)
    rows = await asyncio.to_thread(_parse, data)
    imported = await upsert_loans(sessions, rows, actor=operator.name)
    log.info("ledger imported", rows=imported, operator=operator.name)
    waiting = await open_cases_for(sessions, [row["contract_no"] for row in rows])
    return LoansImported(imported=imported, cases_signalled=await _wake(client, waiting))


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
