"""The registry's result webhook: HMAC-signed, no bearer token.

Each delivery is taken once, by its `callback_id`: within the signature's
300-second window a captured request would otherwise signal the case again."""

from __future__ import annotations

import hashlib

from fastapi import APIRouter, Request
from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.service import RPCError, RPCStatusCode

from api.bodies import read_body_capped
from api.deps import SessionDep, SettingsDep, TemporalClientDep
from api.errors import ApiError, describe_errors, log, temporal_error
from api.inputs import RegistryCallback
from api.schemas import CallbackAccepted
from kernel.case_client import case_handle
from kernel.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from models.audit import append_event
from models.case_contract import CaseSignal
from models.payloads import RegistryResult
from models.registry import apply_registry_outcome, forget_callback, take_callback
from models.tables import RegistryRequest

router = APIRouter(prefix="/registry", tags=["registry"])

# A callback is a few hundred bytes; anything near this is not one, and it is read unsigned.
CALLBACK_BODY_LIMIT = 16 * 1024


@router.post(
    "/callbacks",
    status_code=202,
    response_model=CallbackAccepted,
    openapi_extra={
        "requestBody": {
            "content": {"application/json": {"schema": RegistryCallback.model_json_schema()}}
        }
    },
)
async def registry_callback(
    request: Request, session: SessionDep, client: TemporalClientDep, settings: SettingsDep
) -> CallbackAccepted:
    """Take the registry's outcome for one deregistration and hand it to the case."""
    # The signature covers the raw bytes, so read them before any JSON parsing.
    raw = await read_body_capped(request, CALLBACK_BODY_LIMIT)
    timestamp = request.headers.get(TIMESTAMP_HEADER)
    signature = request.headers.get(SIGNATURE_HEADER)
    if not verify(settings.registry_hmac_secret, timestamp, raw, signature):
        raise ApiError(401, "bad_signature", "missing, stale or invalid registry signature")
    try:
        callback = RegistryCallback.model_validate_json(raw)
    except ValidationError as error:
        raise ApiError(422, "validation_error", describe_errors(error.errors())) from None
    callback_id = callback.callback_id or "sha256:" + hashlib.sha256(raw).hexdigest()
    submitted = await session.get(RegistryRequest, callback.idempotency_key)
    if submitted is None:
        raise ApiError(
            404, "registry_request_not_found", f"no request with key {callback.idempotency_key}"
        )
    case_id = submitted.case_id
    changed = await _take(session, callback, callback_id, case_id)
    if not changed:
        # Out of order (a PENDING after the final answer): nothing to tell the case.
        log.info("stale registry callback ignored", case_id=case_id, callback_id=callback_id)
        return CallbackAccepted()
    result = RegistryResult(
        idempotency_key=callback.idempotency_key,
        outcome=callback.status,
        registry_ref=callback.registry_ref,
        reason=callback.reason,
    )
    try:
        await case_handle(client, case_id).signal(CaseSignal.REGISTRY_RESULT, result)
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            # 503 and the registry retries: that delivery must be taken, not refused as a replay.
            await forget_callback(session, callback_id)
            await session.commit()
            raise temporal_error(error) from None
        # The case has finished; nothing is waiting for this answer any more.
        log.info("registry callback for a closed case", case_id=case_id)
    return CallbackAccepted()


async def _take(
    session: AsyncSession, callback: RegistryCallback, callback_id: str, case_id: str
) -> bool:
    """Receipt, row and audit record in one transaction; whether the outcome was news.

    A known `callback_id` is a 409 and changes nothing."""
    if not await take_callback(session, callback_id, callback.idempotency_key, callback.status):
        raise ApiError(409, "callback_replayed", f"callback {callback_id} was already taken")
    changed = await apply_registry_outcome(
        session, callback.idempotency_key, callback.status, callback.registry_ref, callback.reason
    )
    if changed:
        await append_event(
            session,
            stream=case_id,
            event="registry.callback",
            actor="registry",
            details={**callback.model_dump(mode="json"), "callback_id": callback_id},
            # The registry retries deliveries; one record per distinct outcome.
            event_key=f"registry-callback:{callback.idempotency_key}:{callback.status.value}",
        )
    # The receipt is kept for a stale callback too: its replay is refused like any other.
    await session.commit()
    return changed
