"""Which cases a caller sees: their branch's, or every branch's for admins and
auditors. Every list and every per-case lookup goes through `case_scope`."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Path
from sqlalchemy import ColumnElement, select, true
from sqlmodel.ext.asyncio.session import AsyncSession

from api.auth import CurrentOperator
from api.deps import SessionDep
from api.errors import ApiError
from models.enums import Role
from models.tables import Case, Operator

CASE_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
# Roles whose work spans branches; everyone else sees only their own branch's cases.
ALL_BRANCH_ROLES = frozenset({Role.ADMIN, Role.AUDITOR})


def sees_all_branches(operator: Operator) -> bool:
    return Role(operator.role) in ALL_BRANCH_ROLES


def visible_branch(operator: Operator) -> str | None:
    """The one branch whose cases `operator` sees, or None: every branch."""
    return None if sees_all_branches(operator) else operator.branch


def branch_scope(branch: str | None) -> ColumnElement[bool]:
    """The cases of `branch` (None: of every branch)."""
    return true() if branch is None else Case.branch == branch


def case_scope(operator: Operator) -> ColumnElement[bool]:
    """The cases `operator` may see: their branch's, or every branch's for admins and auditors."""
    return branch_scope(visible_branch(operator))


def case_not_found(case_id: str) -> ApiError:
    # The same answer for "no such case" and "another branch's case": existence does not leak.
    return ApiError(404, "case_not_found", f"case {case_id} does not exist")


async def find_visible_case(session: AsyncSession, operator: Operator, case_id: str) -> Case | None:
    if not CASE_ID.match(case_id):
        return None
    query = select(Case).where(Case.case_id == case_id, case_scope(operator))
    return (await session.exec(query)).scalar_one_or_none()


async def visible_case(session: AsyncSession, operator: Operator, case_id: str) -> Case:
    case = await find_visible_case(session, operator, case_id)
    if case is None:
        raise case_not_found(case_id)
    return case


async def case_from_path(
    operator: CurrentOperator, session: SessionDep, case_id: Annotated[str, Path()]
) -> Case:
    return await visible_case(session, operator, case_id)


# The case named in the path, if the caller may see it; 404 otherwise.
CaseDep = Annotated[Case, Depends(case_from_path)]
