"""`GET /cases`: each filter, text search with LIKE's wildcards taken literally, the
caller's branch scope, and keyset pages that neither repeat nor skip a case.

Runs `api.search` on the test PostgreSQL directly, and through the in-process API
for what a client sends. Every case here lives in this module's own branches."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.dialects import postgresql

from api.inputs import CaseSearch
from api.search import page_query, search_cases
from models.enums import CaseStatus, RiskGrade, Role
from models.loans import upsert_loans
from models.operators import add_operator
from models.tables import Operator
from tests.utils.inprocess import FakeTemporal, case_row, id_number, in_process_api, loan

pytestmark = [pytest.mark.timeout(120)]

RUN = uuid.uuid4().hex[:6].upper()
HERE, THERE = f"S{RUN}", f"T{RUN}"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

ADMIN = Operator(name=f"s-admin-{RUN}", role="admin", branch="HQ", token_hash="-")
AUDITOR = Operator(name=f"s-auditor-{RUN}", role="auditor", branch="HQ", token_hash="-")
LOCAL = Operator(name=f"s-operator-{RUN}", role="operator", branch=HERE, token_hash="-")


async def add_case(sessions, suffix: str, branch: str = HERE, **fields) -> str:
    contract_no = fields.pop("contract_no", f"SR-{RUN}-{suffix}")
    await upsert_loans(sessions, [loan(contract_no)])
    case_id = fields.pop("case_id", f"RC-S{RUN}{suffix}"[:32])
    values = dict(status=CaseStatus.COMPLETED.value, step="done", branch=branch, created_at=T0)
    values.update(fields)
    async with sessions() as session, session.begin():
        session.add(case_row(case_id, contract_no, **values))
    return case_id


async def ids(sessions, who: Operator = ADMIN, **filters) -> list[str]:
    async with sessions() as session:
        result = await search_cases(session, who, CaseSearch(**filters))
    return [row.case_id for row in result.data]


@pytest.fixture(scope="module")
async def corpus(sessions) -> dict[str, str]:
    """Cases in HERE (and one in THERE) that differ in one field each."""
    made = {
        "plain": await add_case(sessions, "P"),
        "waiting": await add_case(
            sessions, "W", status=CaseStatus.AWAITING_APPROVAL.value, risk_grade="HIGH"
        ),
        "docs": await add_case(sessions, "D", status=CaseStatus.AWAITING_DOCUMENTS.value),
        "held": await add_case(
            sessions,
            "H",
            status=CaseStatus.AWAITING_APPROVAL.value,
            risk_grade="LOW",
            assignee=f"s-bob-{RUN}",
        ),
        "late": await add_case(sessions, "L", sla_breached=True, created_at=T0 + timedelta(days=2)),
        "old": await add_case(sessions, "O", created_at=T0 - timedelta(days=30)),
        "named": await add_case(sessions, "N", borrower_name="欧阳娜娜", plate_no="沪B7K9Q1"),
        "underscore": await add_case(sessions, "U", contract_no=f"SR-{RUN}-A_B"),
        "lookalike": await add_case(sessions, "X", contract_no=f"SR-{RUN}-AXB"),
        "percent": await add_case(sessions, "C", contract_no=f"SR-{RUN}-C%D"),
        "elsewhere": await add_case(sessions, "E", branch=THERE),
    }
    return made


async def test_each_filter_narrows(sessions, corpus):
    def pick(*names: str) -> set[str]:
        return {corpus[name] for name in names}

    async def found(**filters) -> set[str]:
        return set(await ids(sessions, branch=HERE, limit=200, **filters))

    assert await found(status=[CaseStatus.AWAITING_APPROVAL]) == pick("waiting", "held")
    assert await found(
        status=[CaseStatus.AWAITING_APPROVAL, CaseStatus.AWAITING_DOCUMENTS]
    ) == pick("waiting", "held", "docs")
    assert await found(status=[CaseStatus.AWAITING_APPROVAL], risk_grade=RiskGrade.HIGH) == pick(
        "waiting"
    )
    assert await found(assignee=f"s-bob-{RUN}") == pick("held")
    assert await found(sla_breached=True) == pick("late")
    assert corpus["late"] not in await found(sla_breached=False)
    assert await found(created_from=T0 + timedelta(days=1)) == pick("late")
    assert await found(created_to=T0 - timedelta(days=1)) == pick("old")
    # A time without a zone is UTC.
    naive = (T0 + timedelta(days=1)).replace(tzinfo=None)
    assert await found(created_from=naive) == pick("late")
    assert set(await ids(sessions, branch=THERE)) == pick("elsewhere")


async def test_text_search_on_contract_plate_and_name(sessions, corpus):
    async def found(q: str) -> set[str]:
        return set(await ids(sessions, q=q, branch=HERE))

    assert await found(f"SR-{RUN}-P") == {corpus["plain"]}
    assert await found("b7k9") == {corpus["named"]}  # plates match whatever the case
    assert await found("欧阳") == {corpus["named"]}
    assert await found("  欧阳娜娜 ") == {corpus["named"]}
    # LIKE's wildcards in the query are plain characters.
    assert await found("A_B") == {corpus["underscore"]}
    assert await found("C%D") == {corpus["percent"]}
    assert await found("%") == {corpus["percent"]}
    assert await found("\\") == set()


async def test_operators_see_only_their_branch(sessions, corpus):
    mine = set(await ids(sessions, LOCAL, q=f"SR-{RUN}", limit=200))
    assert corpus["plain"] in mine and corpus["elsewhere"] not in mine
    assert await ids(sessions, LOCAL, branch=THERE) == []  # a filter never widens the scope
    for who in (ADMIN, AUDITOR):
        everywhere = set(await ids(sessions, who, q=f"SR-{RUN}", limit=200))
        assert {corpus["plain"], corpus["elsewhere"]} <= everywhere


async def test_keyset_pages_repeat_and_skip_nothing(sessions):
    branch = f"K{RUN}"
    who = Operator(name="k", role="operator", branch=branch, token_hash="-")
    # Three share one timestamp: the case id breaks the tie, in the same direction.
    stamps = [T0, T0, T0, T0 - timedelta(seconds=1), T0 + timedelta(microseconds=1)]
    made = [
        await add_case(sessions, f"K{i}", branch=branch, created_at=stamp)
        for i, stamp in enumerate(stamps)
    ]
    expected = [
        case_id
        for _, case_id in sorted(zip(stamps, made, strict=True), key=lambda p: p, reverse=True)
    ]
    seen, cursor, counts = [], None, set()
    while True:
        async with sessions() as session:
            page = await search_cases(session, who, CaseSearch(limit=2, cursor=cursor))
        seen += [row.case_id for row in page.data]
        counts.add(page.count)
        if len(seen) == 2:
            # A case arriving while someone pages is newer than every cursor: not in this walk.
            await add_case(sessions, "KNEW", branch=branch, created_at=T0 + timedelta(days=1))
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == expected
    assert counts == {5, 6}  # the count is the whole result, whatever page it comes with
    first = await ids(sessions, who, limit=2)
    assert first[0] == f"RC-S{RUN}KNEW"[:32]


async def test_count_without_a_second_query_is_still_the_total(sessions, corpus):
    async with sessions() as session:
        whole = await search_cases(session, ADMIN, CaseSearch(branch=HERE, limit=200))
        tail = await search_cases(session, ADMIN, CaseSearch(branch=HERE, limit=200, offset=3))
        beyond = await search_cases(session, ADMIN, CaseSearch(branch=HERE, offset=500))
    assert whole.count == len(whole.data) == len(corpus) - 1
    assert tail.count == whole.count and len(tail.data) == whole.count - 3
    assert beyond.count == whole.count and beyond.data == []
    assert whole.next_cursor is None


async def test_text_search_can_use_the_trigram_index(sessions):
    """The query's expression must be the index's, or 100k cases mean a full scan."""
    search = CaseSearch(q="SR-4711")
    compiled = page_query(search, ADMIN).compile(
        dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
    )
    async with sessions() as session:
        await session.exec(text("SET LOCAL enable_seqscan = off"))
        await session.exec(text("SET LOCAL enable_indexscan = off"))
        plan = (await session.exec(text(f"EXPLAIN (FORMAT JSON) {compiled}"))).scalar_one()
    assert "ix_cases_search_trgm" in json.dumps(plan)


# --- through the API ---------------------------------------------------------------


@pytest.fixture(scope="module")
async def api(sessions, database_url, tmp_path_factory):
    token = await add_operator(sessions, f"s-carol-{RUN}", Role.AUDITOR, branch="HQ")
    async with in_process_api(database_url, tmp_path_factory.mktemp("s"), FakeTemporal()) as (
        client,
        _,
    ):
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


async def test_query_parameters_as_a_client_sends_them(api, corpus):
    params = [
        ("status", "AWAITING_APPROVAL"),
        ("status", "AWAITING_DOCUMENTS"),
        ("branch", HERE),
        ("created_from", "2026-02-28T00:00:00+08:00"),
        ("sla_breached", "false"),
        ("limit", "2"),
    ]
    response = await api.get("/api/v1/cases", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == 3 and len(body["data"]) == 2 and body["next_cursor"]
    cursor = [("cursor", body["next_cursor"])]
    rest = await api.get("/api/v1/cases", params=params + cursor)
    got = {row["case_id"] for row in body["data"] + rest.json()["data"]}
    assert got == {corpus["waiting"], corpus["held"], corpus["docs"]}
    assert rest.json()["next_cursor"] is None
    row = body["data"][0]
    assert row["borrower"]["id_number"] == id_number()[:6] + "*" * 8 + id_number()[-4:]
    assert row["borrower"]["phone"] == "138****5678"
    assert {"assignee", "sla_breached"} <= set(row)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("cursor=bm90IGEgY3Vyc29y", "cursor"),
        ("cursor=%%%", "cursor"),
        ("created_from=2026-03-02T00:00:00Z&created_to=2026-03-01T00:00:00Z", "created_to"),
        ("created_from=yesterday", "created_from"),
        ("sla_breached=maybe", "sla_breached"),
        ("status=AWAITING_APPROVAL&status=DONE", "status"),
        ("limit=0", "limit"),
        ("q=" + "x" * 65, "q"),
    ],
)
async def test_bad_search_parameters_are_422(api, query, field):
    response = await api.get(f"/api/v1/cases?{query}")
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"
    assert field in response.json()["error"]["message"]
