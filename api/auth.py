"""Role gates: which roles may do what. Who the caller is, and which branch's
cases they see, is settled in `api.deps` (`CurrentOperator`, `case_scope`)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends

from api.deps import CurrentOperator
from api.errors import ApiError
from models.enums import Role
from models.tables import Operator
from workflows.decisions import SENIOR_ROLES

__all__ = [
    "CurrentOperator",
    "DeciderOperator",
    "LedgerOperator",
    "PII_READERS",
    "SeniorOperator",
    "WriterOperator",
    "require_roles",
]


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

# Auditors read everything and change nothing.
WriterOperator = Annotated[Operator, Depends(require_roles(*_WRITERS, action="change cases"))]
DeciderOperator = Annotated[Operator, Depends(require_roles(*_DECIDERS, action="decide cases"))]
SeniorOperator = Annotated[
    Operator, Depends(require_roles(*SENIOR_ROLES, action="hand tasks to other people"))
]
LedgerOperator = Annotated[
    Operator, Depends(require_roles(Role.SENIOR, Role.ADMIN, action="import the loan ledger"))
]
