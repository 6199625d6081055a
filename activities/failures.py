"""How an activity's failure reaches the workflow: with the attempt it happened
on (an incident says how often the step was tried) and, for a value the
database refuses, as a non-retryable InvalidData (retrying cannot change it).

A worker interceptor, so every activity gets the same treatment without each
one catching and rewrapping its own errors."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.exc import DBAPIError
from temporalio import activity
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from activities.errors import INVALID_DATA

# SQLSTATE classes 22 (data exception: too long, malformed) and 23 (integrity:
# a missing foreign key, a NOT NULL) mean the value itself is wrong.
_DATA_ERROR_CLASSES = ("22", "23")


def attempt_of(details: tuple[Any, ...] | list[Any]) -> int | None:
    """The attempt number an activity failure carries (see `ReportFailures`)."""
    for detail in reversed(details or ()):
        if isinstance(detail, dict) and isinstance(detail.get("attempt"), int):
            return detail["attempt"]
    return None


def _sqlstate(error: DBAPIError) -> str:
    return str(getattr(error.orig, "sqlstate", "") or "")


def _with_attempt(error: BaseException, attempt: int) -> ApplicationError:
    where = {"attempt": attempt}
    if isinstance(error, ApplicationError):
        return ApplicationError(
            error.message,
            *error.details,
            where,
            type=error.type,
            non_retryable=error.non_retryable,
            next_retry_delay=error.next_retry_delay,
            category=error.category,
        )
    if isinstance(error, DBAPIError) and _sqlstate(error).startswith(_DATA_ERROR_CLASSES):
        message = f"the database refused a value (SQLSTATE {_sqlstate(error)}): {error.orig}"
        return ApplicationError(message[:500], where, type=INVALID_DATA, non_retryable=True)
    # As Temporal would name it, so retry policies keep matching on the class name.
    return ApplicationError(
        f"{error}"[:2000] or type(error).__name__, where, type=type(error).__name__
    )


class _Inbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        try:
            return await super().execute_activity(input)
        except (asyncio.CancelledError, CancelledError):
            raise
        except Exception as error:
            raise _with_attempt(error, activity.info().attempt) from error


class ReportFailures(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Inbound(next)
