"""Client for the vehicle registry's (车管所) mortgage deregistration API."""

from __future__ import annotations

from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from activities.adapters.errors import (
    PermanentExternalError,
    json_body,
    raise_for_response,
    transport_errors,
)

SYSTEM = "registry"


class DeregistrationRequest(BaseModel):
    case_ref: str
    contract_no: str
    plate_no: str
    vin: str
    lender: str
    callback_url: str | None = None


class RegistryStatus(BaseModel):
    """Where a deregistration stands: ``PENDING``, ``COMPLETED`` or ``REJECTED`` (with reason)."""

    registry_ref: str | None
    status: str
    reason: str | None


class RegistryClient:
    """Submits and polls deregistrations; the caller owns the HTTP client and its timeouts."""

    def __init__(self, http: httpx.AsyncClient, base_url: str) -> None:
        self._http = http
        self._base = base_url.rstrip("/") + "/api/v1/deregistrations"

    async def submit(self, idempotency_key: str, request: DeregistrationRequest) -> RegistryStatus:
        """Ask for the deregistration; safe to repeat, the key makes the registry do it once."""
        with transport_errors(SYSTEM):
            response = await self._http.post(
                self._base,
                json=request.model_dump(mode="json"),
                headers={"Idempotency-Key": idempotency_key},
            )
        return _status(response)

    async def status(self, idempotency_key: str) -> RegistryStatus:
        """Current state of the deregistration submitted under this key."""
        with transport_errors(SYSTEM):
            response = await self._http.get(f"{self._base}/{quote(idempotency_key, safe='')}")
        return _status(response)


def _status(response: httpx.Response) -> RegistryStatus:
    raise_for_response(SYSTEM, response)
    try:
        return RegistryStatus.model_validate(json_body(SYSTEM, response))
    except ValidationError as exc:
        raise PermanentExternalError(
            f"{SYSTEM} answer does not match the contract: {exc}",
            status_code=response.status_code,
        ) from exc
