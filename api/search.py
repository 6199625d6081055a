"""The case search behind `GET /cases`, shared with `bench/search.py` so the figures
are about the very queries the API runs.

Keyset pagination on `(created_at, case_id)`, newest first: a page never repeats or
skips a case when new ones arrive, and a deep page costs what the first one does
(`ix_cases_created_case`, or `ix_cases_branch_created` within one branch)."""

from __future__ import annotations

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    exists,
    func,
    literal_column,
    select,
    text,
    tuple_,
)
from sqlmodel.ext.asyncio.session import AsyncSession

from api.case_view import case_summary
from api.inputs import CaseSearch, encode_cursor
from api.schemas import CasesPublic
from api.scope import case_scope
from models.enums import TaskKind, TaskState
from models.tables import Case, HumanTask, Operator

# Written exactly as `ix_cases_search_trgm` is, so PostgreSQL can use that trigram index.
SEARCH_TEXT = literal_column(
    "(loan_contract_no || ' ' || plate_no || ' ' || borrower_name)", String
)
NEWEST_FIRST = (Case.created_at.desc(), Case.case_id.desc())


def like_pattern(fragment: str) -> str:
    """`%fragment%`, with LIKE's own wildcards in `fragment` taken literally."""
    escaped = fragment.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def case_filters(search: CaseSearch, operator: Operator) -> list[ColumnElement[bool]]:
    """The WHERE clause: the caller's scope first, then each filter given."""
    conditions = [case_scope(operator)]
    if search.status:
        conditions.append(Case.status.in_(search.status))
    if search.risk_grade is not None:
        conditions.append(Case.risk_grade == search.risk_grade)
    if search.branch is not None:
        conditions.append(Case.branch == search.branch)
    if search.assignee is not None:
        conditions.append(Case.assignee == search.assignee)
    if search.created_from is not None:
        conditions.append(Case.created_at >= search.created_from)
    if search.created_to is not None:
        conditions.append(Case.created_at < search.created_to)
    if search.sla_breached is not None:
        conditions.append(Case.sla_breached.is_(search.sla_breached))
    if search.text is not None:
        conditions.append(text_match(search.text))
    if search.incident is not None:
        has_incident = has_open_incident()
        conditions.append(has_incident if search.incident else ~has_incident)
    return conditions


def has_open_incident() -> ColumnElement[bool]:
    return exists().where(
        HumanTask.case_id == Case.case_id,
        HumanTask.state == TaskState.OPEN,
        HumanTask.kind == TaskKind.INCIDENT,
    )


def text_match(fragment: str) -> ColumnElement[bool]:
    """`fragment` anywhere in the contract number, plate or name, whatever its case.

    A fragment without letter case (digits, Chinese) takes LIKE: the same rows, and when no
    trigram applies (one or two characters) the scan skips ILIKE's lower() of every row.
    Both use the trigram index, and both escape with the backslash `like_pattern` uses."""
    pattern = like_pattern(fragment)
    if fragment.lower() == fragment.upper():
        return SEARCH_TEXT.like(pattern)
    return SEARCH_TEXT.ilike(pattern)


def page_query(search: CaseSearch, operator: Operator) -> Select:
    """One page, newest first, plus one row that says whether another page follows."""
    query = select(Case).where(*case_filters(search, operator))
    if (after := search.after) is not None:
        query = query.where(tuple_(Case.created_at, Case.case_id) < tuple_(*after))
    return query.order_by(*NEWEST_FIRST).offset(search.offset).limit(search.limit + 1)


def count_query(search: CaseSearch, operator: Operator) -> Select:
    return select(func.count()).select_from(Case).where(*case_filters(search, operator))


async def search_cases(
    session: AsyncSession, operator: Operator, search: CaseSearch
) -> CasesPublic:
    """The page `search` asks for, the total it matches and the cursor to the next page."""
    # The best plan depends on the values (a rare name or a common letter, `sla_breached`
    # true or false); asyncpg's prepared statements would settle on one generic plan.
    await session.exec(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    rows = list((await session.exec(page_query(search, operator))).scalars())
    page, more = rows[: search.limit], len(rows) > search.limit
    if search.after is None and not more and (page or not search.offset):
        # The whole result is in hand: no second pass over the table to count it.
        count = search.offset + len(page)
    else:
        count = (await session.exec(count_query(search, operator))).scalar_one()
    last = page[-1] if page else None
    return CasesPublic(
        data=[case_summary(case) for case in page],
        count=count,
        next_cursor=encode_cursor(last.created_at, last.case_id) if more and last else None,
    )
