"""Bearer tokens checked against `Operator.token_hash`, and the role gates."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select

from api.deps import SessionDep
from api.errors import ApiError
from models.enums import Role
from models.tables import Operator, utcnow
from models.tokens import hash_token

_bearer = HTTPBearer(auto_error=False, description="an operator token from `jieya operator add`")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers=_CHALLENGE)


async def current_operator(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Operator:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
    token_hash = hash_token(credentials.credentials.strip())
    operator = (
        await session.exec(select(Operator).where(Operator.token_hash == token_hash))
    ).scalar_one_or_none()
    if operator is None:
        raise _unauthorized("unknown token")
    if operator.revoked_at is not None:
        raise _unauthorized(f"the token of {operator.name} has been revoked")
    if operator.expires_at is not None and operator.expires_at <= utcnow():
        expired = f"{operator.expires_at:%Y-%m-%d %H:%M} UTC"
        raise _unauthorized(f"the token of {operator.name} expired at {expired}")
    if operator.role not in {r.value for r in Role}:
        raise ApiError(403, "forbidden", f"operator {operator.name} has no valid role")
    return operator


CurrentOperator = Annotated[Operator, Depends(current_operator)]


def require_roles(*roles: Role, action: str) -> Callable[[Operator], Coroutine[Any, Any, Operator]]:
    async def check(operator: CurrentOperator) -> Operator:
        if Role(operator.role) not in roles:
            allowed = ", ".join(r.value for r in roles)
            raise ApiError(
                403, "forbidden", f"role {operator.role} may not {action} (needs {allowed})"
            )
        return operator

    return check


_WRITERS = tuple(r for r in Role if r != Role.AUDITOR)
_DECIDERS = tuple(r for r in Role if r.may_decide)

# Auditors read everything and change nothing.
WriterOperator = Annotated[Operator, Depends(require_roles(*_WRITERS, action="change cases"))]
DeciderOperator = Annotated[Operator, Depends(require_roles(*_DECIDERS, action="decide cases"))]
LedgerOperator = Annotated[
    Operator, Depends(require_roles(Role.SENIOR, Role.ADMIN, action="import the loan ledger"))
]
