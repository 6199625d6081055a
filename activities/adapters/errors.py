"""The two ways an external call can fail, as the retry policy needs to see them.

Activities let ``TransientExternalError`` propagate so Temporal retries with
back-off, and list ``PermanentExternalError`` in ``non_retryable_error_types``
so a refused request fails the step at once instead of being hammered.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import httpx


class ExternalError(Exception):
    """Base for adapter failures; ``code`` is the remote system's error code when it sent one."""

    def __init__(
        self, message: str, *, status_code: int | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code


class TransientExternalError(ExternalError):
    """Worth retrying: connection failures, timeouts, 5xx and 429."""


class PermanentExternalError(ExternalError):
    """Retrying cannot help: the remote system refused the request (4xx) or answered nonsense."""


def _remote_error(response: httpx.Response) -> tuple[str | None, str]:
    try:
        error = response.json().get("error", {})
        return error.get("code"), error.get("message") or response.reason_phrase
    except (ValueError, AttributeError):
        return None, response.text[:200] or response.reason_phrase


def raise_for_response(system: str, response: httpx.Response) -> None:
    """Turn a non-2xx answer into the matching error; 2xx passes through."""
    if response.is_success:
        return
    code, message = _remote_error(response)
    text = f"{system} answered {response.status_code}: {message}"
    status = response.status_code
    if status == 429 or status >= 500:
        raise TransientExternalError(text, status_code=status, code=code)
    raise PermanentExternalError(text, status_code=status, code=code)


@contextlib.contextmanager
def transport_errors(system: str) -> Iterator[None]:
    """Classify httpx failures that happen before any answer arrives."""
    try:
        yield
    except httpx.UnsupportedProtocol as exc:
        # A misconfigured URL will not fix itself between retries.
        raise PermanentExternalError(f"{system} URL is unusable: {exc}") from exc
    except httpx.TransportError as exc:
        raise TransientExternalError(f"{system} unreachable: {type(exc).__name__}: {exc}") from exc


def json_body(system: str, response: httpx.Response) -> dict:
    """The JSON object of a 2xx answer; anything else breaks the contract and is permanent."""
    try:
        body = response.json()
    except ValueError as exc:
        raise PermanentExternalError(
            f"{system} sent a non-JSON answer", status_code=response.status_code
        ) from exc
    if not isinstance(body, dict):
        raise PermanentExternalError(
            f"{system} sent an unexpected answer", status_code=response.status_code
        )
    return body
