"""The case search behind `GET /cases`, shared with `bench/search.py` so the figures
are about the very queries the API runs.

Keyset pagination on `(created_at, case_id)`, newest first: a page never repeats or
skips a case when new ones arrive, and a deep page costs what the first one does
(`ix_cases_created_case`, or `ix_cases_branch_created` within one branch).

Each statement is built once per shape of search (which filters are given, and the
caller's scope) with the filters' values as parameters: building and keying a fresh
statement cost more than PostgreSQL takes to run it."""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Literal, NamedTuple

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Integer,
    Select,
    String,
    bindparam,
    exists,
    func,
    literal_column,
    select,
    text,
    tuple_,
)
from sqlmodel.ext.asyncio.session import AsyncSession

from api.case_view import SUMMARY_COLUMNS, summary_values
from api.inputs import CaseSearch, encode_cursor
from api.schemas import CasesPublic
from api.scope import branch_scope, visible_branch
from models.enums import TaskKind, TaskState
from models.tables import Case, HumanTask, Operator

# Written exactly as `ix_cases_search_trgm` is, so PostgreSQL can use that trigram index.
SEARCH_TEXT = literal_column(
    "(loan_contract_no || ' ' || plate_no || ' ' || borrower_name)", String
)
NEWEST_FIRST = (Case.created_at.desc(), Case.case_id.desc())
# The best plan depends on the filters' values (a rare name or a common letter,
# `sla_breached` true or false); asyncpg's prepared statements would settle on one
# generic plan. The caller's scope, the cursor and the page bounds are not among them:
# whatever their values the plan walks `ix_cases_branch_created` or
# `ix_cases_created_case` in order, so a plain listing skips the extra round trip.
CUSTOM_PLANS = text("SET LOCAL plan_cache_mode = force_custom_plan")


def like_pattern(fragment: str) -> str:
    """`%fragment%`, with LIKE's own wildcards in `fragment` taken literally."""
    escaped = fragment.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class Shape(NamedTuple):
    """What one statement serves: the caller's scope (a branch, or None: every
    branch), which filters are given, and the few that are part of the SQL itself."""

    scope: str | None
    status: bool = False
    risk_grade: bool = False
    branch: bool = False
    assignee: bool = False
    created_from: bool = False
    created_to: bool = False
    sla_breached: bool | None = None
    text: Literal["like", "ilike"] | None = None
    incident: bool | None = None
    after: bool = False

    @property
    def filtered(self) -> bool:
        """Any filter beyond the caller's scope (the cursor is none)."""
        return self._replace(scope=None, after=False) != Shape(None)


def shape_of(search: CaseSearch, operator: Operator) -> tuple[Shape, dict[str, Any]]:
    """The statement's shape for `search` by `operator`, and its parameters."""
    params: dict[str, Any] = {"limit": search.limit + 1, "offset": search.offset}
    given = {
        name: value
        for name in ("status", "risk_grade", "branch", "assignee", "created_from", "created_to")
        if (value := getattr(search, name)) is not None and value != []
    }
    params |= given
    text_op: Literal["like", "ilike"] | None = None
    if (fragment := search.text) is not None:
        params["pattern"] = like_pattern(fragment)
        # A fragment without letter case (digits, Chinese) takes LIKE: the same rows, and
        # when no trigram applies (one or two characters) the scan skips ILIKE's lower()
        # of every row. Both use the trigram index, and both escape with the backslash
        # `like_pattern` uses.
        text_op = "like" if fragment.lower() == fragment.upper() else "ilike"
    if (after := search.after) is not None:
        params["after_created_at"], params["after_case_id"] = after
    shape = Shape(
        visible_branch(operator),
        **dict.fromkeys(given, True),
        sla_breached=search.sla_breached,
        text=text_op,
        incident=search.incident,
        after=after is not None,
    )
    return shape, params


def case_filters(shape: Shape) -> list[ColumnElement[bool]]:
    """The WHERE clause: the caller's scope first, then each filter given."""
    conditions = [branch_scope(shape.scope)]
    if shape.status:
        conditions.append(Case.status.in_(bindparam("status", expanding=True)))
    if shape.risk_grade:
        conditions.append(Case.risk_grade == bindparam("risk_grade"))
    if shape.branch:
        conditions.append(Case.branch == bindparam("branch"))
    if shape.assignee:
        conditions.append(Case.assignee == bindparam("assignee"))
    if shape.created_from:
        conditions.append(Case.created_at >= bindparam("created_from"))
    if shape.created_to:
        conditions.append(Case.created_at < bindparam("created_to"))
    if shape.sla_breached is not None:
        conditions.append(Case.sla_breached.is_(shape.sla_breached))
    if shape.text is not None:
        pattern = bindparam("pattern", type_=String)
        like = SEARCH_TEXT.like if shape.text == "like" else SEARCH_TEXT.ilike
        conditions.append(like(pattern))
    if shape.incident is not None:
        has_incident = has_open_incident()
        conditions.append(has_incident if shape.incident else ~has_incident)
    return conditions


def has_open_incident() -> ColumnElement[bool]:
    return exists().where(
        HumanTask.case_id == Case.case_id,
        HumanTask.state == TaskState.OPEN,
        HumanTask.kind == TaskKind.INCIDENT,
    )


@lru_cache(maxsize=1024)
def page_statement(shape: Shape) -> Select:
    """One page, newest first, plus one row that says whether another page follows."""
    query = select(*SUMMARY_COLUMNS).where(*case_filters(shape))
    if shape.after:
        cursor = tuple_(
            bindparam("after_created_at", type_=DateTime(timezone=True)),
            bindparam("after_case_id", type_=String),
        )
        query = query.where(tuple_(Case.created_at, Case.case_id) < cursor)
    return (
        query.order_by(*NEWEST_FIRST)
        .offset(bindparam("offset", type_=Integer))
        .limit(bindparam("limit", type_=Integer))
    )


@lru_cache(maxsize=1024)
def count_statement(shape: Shape) -> Select:
    return select(func.count()).select_from(Case).where(*case_filters(shape))


def page_query(search: CaseSearch, operator: Operator) -> Select:
    """The page statement with this search's values bound (to compile or EXPLAIN it)."""
    shape, params = shape_of(search, operator)
    return page_statement(shape).params(params)


async def search_cases(
    session: AsyncSession, operator: Operator, search: CaseSearch
) -> CasesPublic:
    """The page `search` asks for, the total it matches and the cursor to the next page."""
    shape, params = shape_of(search, operator)
    if shape.filtered:
        await session.exec(CUSTOM_PLANS)
    rows = (await session.exec(page_statement(shape), params=params)).all()
    page, more = rows[: search.limit], len(rows) > search.limit
    if not shape.after and not more and (page or not search.offset):
        # The whole result is in hand: no second pass over the table to count it.
        count = search.offset + len(page)
    else:
        count = (await session.exec(count_statement(shape), params=params)).scalar_one()
    last = page[-1] if page else None
    return CasesPublic.model_validate(
        {
            "data": [summary_values(row) for row in page],
            "count": count,
            "next_cursor": encode_cursor(last.created_at, last.case_id) if more and last else None,
        }
    )
