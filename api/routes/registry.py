"""The registry's result webhook: HMAC-signed, no bearer token."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import ValidationError
from temporalio.service import RPCError, RPCStatusCode

from api.deps import SessionDep, SettingsDep, TemporalClientDep
from api.errors import ApiError, describe_errors, log, temporal_error
from api.inputs import RegistryCallback
from api.views import CallbackAccepted
from kernel.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from models.audit import append_event
from models.payloads import RegistryResult
from models.tables import RegistryRequest
from workflows.client import case_handle
from workflows.release_case import ReleaseCaseWorkflow

router = APIRouter(prefix="/registry", tags=["registry"])


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
    raw = await request.body()
    timestamp = request.headers.get(TIMESTAMP_HEADER)
    signature = request.headers.get(SIGNATURE_HEADER)
    if not verify(settings.registry_hmac_secret, timestamp, raw, signature):
        raise ApiError(401, "bad_signature", "missing, stale or invalid registry signature")
    try:
        callback = RegistryCallback.model_validate_json(raw)
    except ValidationError as error:
        raise ApiError(422, "validation_error", describe_errors(error.errors())) from None
    submitted = await session.get(RegistryRequest, callback.idempotency_key)
    if submitted is None:
        raise ApiError(
            404, "registry_request_not_found", f"no request with key {callback.idempotency_key}"
        )
    await append_event(
        session,
        stream=submitted.case_id,
        event="registry.callback",
        actor="registry",
        details=callback.model_dump(mode="json"),
        # The registry retries deliveries; one record per distinct outcome.
        event_key=f"registry-callback:{callback.idempotency_key}:{callback.status.value}",
    )
    await session.commit()
    result = RegistryResult(
        idempotency_key=callback.idempotency_key,
        outcome=callback.status,
        registry_ref=callback.registry_ref,
        reason=callback.reason,
    )
    try:
        await case_handle(client, submitted.case_id).signal(
            ReleaseCaseWorkflow.registry_result, result
        )
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise temporal_error(error) from None  # 503: the registry retries
        # The case has finished; nothing is waiting for this answer any more.
        log.info("registry callback for a closed case", case_id=submitted.case_id)
    return CallbackAccepted()
