"""Client for the SMS gateway."""

from __future__ import annotations

import httpx

from activities.adapters.errors import (
    PermanentExternalError,
    json_body,
    raise_for_response,
    transport_errors,
)

SYSTEM = "sms gateway"


class SmsGateway:
    """Sends one SMS per idempotency key; the caller owns the HTTP client and its timeouts."""

    def __init__(self, http: httpx.AsyncClient, base_url: str) -> None:
        self._http = http
        self._url = base_url.rstrip("/") + "/api/v1/messages"

    async def send(self, to: str, text: str, idempotency_key: str) -> str:
        """Send ``text`` to ``to`` and return the gateway's message_id (the same on a retry)."""
        with transport_errors(SYSTEM):
            response = await self._http.post(
                self._url,
                json={"to": to, "text": text},
                headers={"Idempotency-Key": idempotency_key},
            )
        raise_for_response(SYSTEM, response)
        message_id = json_body(SYSTEM, response).get("message_id")
        if not isinstance(message_id, str) or not message_id:
            raise PermanentExternalError(
                f"{SYSTEM} accepted the message without a message_id",
                status_code=response.status_code,
            )
        return message_id
