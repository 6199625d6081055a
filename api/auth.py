"""Who is calling (`CurrentOperator`, from the bearer token) and which roles may do
what (the role gates). Which branch's cases they see is `api.scope`."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import String, bindparam, select

from api.deps import SessionDep
from api.errors import ApiError
from models.enums import Role
from models.rules import SENIOR_ROLES
from models.tables import Operator, utcnow
from models.tokens import hash_token

_bearer = HTTPBearer(auto_error=False, description="an operator token from `jieya operator add`")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}
_ROLES = frozenset(r.value for r in Role)
# Built once: every request runs it (`token_hash` is a unique index).
_BY_TOKEN = select(Operator).where(Operator.token_hash == bindparam("token_hash", type_=String))


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers=_CHALLENGE)


def is_active(operator: Operator) -> bool:
    """Not revoked and not expired: the same test for callers and for assignees."""
    if operator.revoked_at is not None:
        return False
    return operator.expires_at is None or operator.expires_at > utcnow()


async def current_operator(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Operator:
    """The operator whose bearer token this is (by `Operator.token_hash`, a unique index)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
    token_hash = hash_token(credentials.credentials.strip())
    operator = (
        await session.exec(_BY_TOKEN, params={"token_hash": token_hash})
    ).scalar_one_or_none()
    if operator is None:
        raise _unauthorized("unknown token")
    if operator.revoked_at is not None:
        raise _unauthorized(f"the token of {operator.name} has been revoked")
    if not is_active(operator):
        expired = f"{operator.expires_at:%Y-%m-%d %H:%M} UTC"
        raise _unauthorized(f"the token of {operator.name} expired at {expired}")
    if operator.role not in _ROLES:
        raise ApiError(403, "forbidden", f"operator {operator.name} has no valid role")
    return operator


CurrentOperator = Annotated[Operator, Depends(current_operator)]


# --- what their role lets them do --------------------------------------------------


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
# Who may read a borrower's full ID and phone numbers (each read is audited).
PII_READERS = (Role.SENIOR, Role.ADMIN, Role.AUDITOR)
# Who may read a document's stored file (each read is audited): the roles that work
# cases or audit them. Roles that only feed the ledger or confirm a guarantee
# (`integration`, `partner`) never see a borrower's ID card.
DOCUMENT_READERS = (Role.OPERATOR, Role.SENIOR, Role.ADMIN, Role.AUDITOR)
# Who may have Temporal payloads decrypted (the Temporal UI's codec endpoint).
PAYLOAD_READERS = (Role.AUDITOR, Role.ADMIN)

# Auditors read everything and change nothing.
WriterOperator = Annotated[Operator, Depends(require_roles(*_WRITERS, action="change cases"))]
DeciderOperator = Annotated[Operator, Depends(require_roles(*_DECIDERS, action="decide cases"))]
SeniorOperator = Annotated[
    Operator, Depends(require_roles(*SENIOR_ROLES, action="hand tasks to other people"))
]
LedgerOperator = Annotated[
    Operator, Depends(require_roles(Role.SENIOR, Role.ADMIN, action="import the loan ledger"))
]
DocumentReader = Annotated[
    Operator,
    Depends(require_roles(*DOCUMENT_READERS, action="read documents' files")),
]
PayloadReader = Annotated[
    Operator,
    Depends(require_roles(*PAYLOAD_READERS, action="decode or encode Temporal payloads")),
]
