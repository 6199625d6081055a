"""One error shape for every failure: `{"error": {"code", "message"}}`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.errors import INVALID_DATA
from kernel.logging import get_logger
from workflows.decisions import (
    COMMENT_REQUIRED,
    DUPLICATE,
    FORBIDDEN,
    FOUR_EYES,
    INVALID_DECISION,
    WRONG_STATE,
)

log = get_logger("jieya.api")

_DEFAULT_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    500: "internal_error",
    503: "unavailable",
    504: "timeout",
}

# The decide validator's refusal types → (HTTP status, our error code).
_REFUSALS = {
    FORBIDDEN: (403, "forbidden"),
    FOUR_EYES: (403, "four_eyes"),
    WRONG_STATE: (409, "wrong_state"),
    DUPLICATE: (409, "duplicate_decision"),
    INVALID_DECISION: (422, "invalid_decision"),
    COMMENT_REQUIRED: (422, "comment_required"),
}


class ApiError(HTTPException):
    """An HTTP error that carries its machine-readable code."""

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(status_code, message, headers=dict(headers) if headers else None)
        self.code = code
        self.message = message


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def error_response(
    status_code: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=status_code, headers=headers)


def describe_errors(errors: Iterable[Mapping[str, Any]]) -> str:
    """`borrower.id_number: invalid ID number: …; phone: …` — never echoes the input."""
    parts = []
    for error in errors:
        loc = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path")]
        where = ".".join(loc) or "body"
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{where}: {message}")
    return "; ".join(parts) or "invalid request"


def closed_case() -> ApiError:
    return ApiError(409, "case_closed", "case is closed")


def temporal_error(error: Exception) -> ApiError:
    """Map what `execute_update`/`signal` raised; refusals by their type, never their text."""
    if isinstance(error, WorkflowUpdateFailedError):
        cause = error.cause
        if isinstance(cause, ApplicationError) and cause.type in _REFUSALS:
            status, code = _REFUSALS[cause.type]
            return ApiError(status, code, cause.message)
        if isinstance(cause, ActivityError):
            # The case accepted the decision but could not record it, so it did not act.
            recorded = cause.cause
            if isinstance(recorded, ApplicationError) and recorded.type == INVALID_DATA:
                return ApiError(
                    422, "invalid_value", "the decision holds a value that cannot be stored"
                )
            log.warning("decision not recorded", error=str(recorded or cause))
            return ApiError(
                503, "unavailable", "the decision could not be recorded; nothing changed, try again"
            )
        log.error("decision update failed", error=str(cause or error))
        return ApiError(500, "internal_error", "the case could not take the decision")
    if isinstance(error, RPCError):
        if error.status == RPCStatusCode.NOT_FOUND:
            return closed_case()
        if error.status == RPCStatusCode.DEADLINE_EXCEEDED:
            return ApiError(504, "timeout", "the workflow engine did not answer in time")
        log.warning("temporal rpc error", status=error.status.name, error=error.message)
        return ApiError(503, "temporal_unavailable", "the workflow engine is not reachable")
    raise error


def install_error_handlers(app: FastAPI) -> None:
    """HTTP errors, validation errors and Temporal RPC errors, all in the shared shape."""

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = getattr(exc, "code", None) or _DEFAULT_CODES.get(exc.status_code, "error")
        return error_response(exc.status_code, code, str(exc.detail), exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, "validation_error", describe_errors(exc.errors()))

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> JSONResponse:
        # SQLSTATE class 22 is "data exception": a value from the request, not our fault.
        if str(getattr(exc.orig, "sqlstate", "") or "").startswith("22"):
            return error_response(
                422, "invalid_value", "a value in the request cannot be stored or compared"
            )
        if exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError):
            return await _unavailable(request, exc)
        raise exc

    @app.exception_handler(OSError)
    async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
        # Refused connections, timeouts, a full disk: the request may succeed later.
        log.warning("backing service unavailable", path=request.url.path, error=repr(exc))
        return error_response(
            503, "unavailable", "the database or document store is not reachable; try again shortly"
        )

    @app.exception_handler(RPCError)
    async def _rpc(_: Request, exc: RPCError) -> JSONResponse:
        mapped = temporal_error(exc)
        return error_response(mapped.status_code, mapped.code, mapped.message)
