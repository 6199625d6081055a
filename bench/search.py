"""Case search latency on 100k cases, through the API's own query builder.

    .venv/bin/python bench/search.py [--cases 100000] [--runs 40] [--ctype C.UTF-8]

A fresh embedded PostgreSQL, migrated to head; loans and cases inserted with one
INSERT … SELECT generate_series each, then ANALYZE. Every query is the one
`GET /cases` runs (`api.search.search_cases`: the count, then the page), timed as
the API runs it over asyncpg, with the plan PostgreSQL picks (EXPLAIN ANALYZE of
the page query) and the indexes in it.

`--ctype` creates the database with that LC_CTYPE. The embedded cluster's default
is C, in which pg_trgm treats Chinese characters as separators, so a search on a
borrower's name cannot use the trigram index; a UTF-8 ctype lets it."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.dialects import postgresql  # noqa: E402

from api.inputs import CaseSearch, encode_cursor  # noqa: E402
from api.search import page_query, search_cases  # noqa: E402
from kernel.db import create_engine, session_factory, upgrade_database  # noqa: E402
from models.enums import CaseStatus, RiskGrade  # noqa: E402
from models.tables import Operator  # noqa: E402
from workers.dev.embedded_pg import EmbeddedPostgres  # noqa: E402

BRANCHES = ["SH", "BJ", "GZ", "SZ", "HZ", "CD", "WH", "NJ", "XA", "CQ"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"
PROVINCES = "京沪粤浙苏川鄂湘豫鲁"

# Status by share of all cases: most cases are long finished.
STATUS_SQL = """CASE
    WHEN r < 70 THEN 'COMPLETED' WHEN r < 78 THEN 'REJECTED' WHEN r < 82 THEN 'CANCELLED'
    WHEN r < 88 THEN 'AWAITING_DOCUMENTS' WHEN r < 92 THEN 'IN_REVIEW'
    WHEN r < 98 THEN 'AWAITING_APPROVAL' ELSE 'DEREGISTERING' END"""


def sql_array(chars: str) -> str:
    return "ARRAY[" + ",".join(f"'{c}'" for c in chars) + "]"


LOANS_SQL = f"""
INSERT INTO loans (contract_no, borrower_name, id_number, phone, plate_no, vin, lender,
                   status, outstanding_amount, settled_at, updated_at)
SELECT 'HT-' || (2023 + i % 3) || '-' || lpad(i::text, 7, '0'),
       ({sql_array(SURNAMES)})[1 + i % {len(SURNAMES)}]
         || ({sql_array(GIVEN)})[1 + (i / {len(SURNAMES)}) % {len(GIVEN)}]
         || CASE WHEN i % 3 = 0 THEN '' ELSE ({sql_array(GIVEN)})[1 + (i / 7) % {len(GIVEN)}] END,
       '110101' || to_char(date '1960-01-01' + i % 15000, 'YYYYMMDD')
         || lpad((i % 1000)::text, 3, '0') || 'X',
       '138' || lpad(((i::bigint * 7919) % 100000000)::text, 8, '0'),
       ({sql_array(PROVINCES)})[1 + i % {len(PROVINCES)}] || chr(65 + (i / 10) % 26)
         || upper(substr(md5(i::text), 1, 5)),
       'LSVAU2180N' || lpad(i::text, 7, '0'),
       '华夏汽车金融有限公司', 'settled', 0, date '2025-01-01', now()
FROM generate_series(1, :n) AS i
"""

CASES_SQL = f"""
INSERT INTO cases (case_id, loan_contract_no, borrower_name, borrower_id_number,
                   borrower_phone, plate_no, vin, status, step, risk_grade, branch,
                   assignee, sla_breached, opened_by, created_at, updated_at)
SELECT 'RC-' || upper(substr(md5('case' || i), 1, 10)), contract_no, borrower_name,
       id_number, phone, plate_no, vin, status, lower(status),
       CASE WHEN status IN ('AWAITING_DOCUMENTS', 'IN_REVIEW') THEN NULL
            WHEN g < 70 THEN 'LOW' WHEN g < 90 THEN 'MEDIUM' ELSE 'HIGH' END,
       branch,
       CASE WHEN status = 'AWAITING_APPROVAL' AND g % 2 = 0
            THEN 'op-' || lower(branch) || '-' || (g % 5) END,
       status NOT IN ('COMPLETED', 'REJECTED', 'CANCELLED') AND g % 20 = 0 OR g % 97 = 0,
       'op-' || lower(branch) || '-' || (i % 5), created, created
FROM (
    SELECT l.*, {STATUS_SQL} AS status, g,
           ({sql_array(BRANCHES)})[1 + abs(hashint4(i + 13)) % {len(BRANCHES)}] AS branch,
           now() - make_interval(secs => (abs(hashint4(i * 31)) % (730 * 86400))::float8) AS created
    FROM (SELECT (row_number() OVER (ORDER BY contract_no))::int AS i,
                 contract_no, borrower_name, id_number, phone, plate_no, vin FROM loans) l,
         LATERAL (SELECT abs(hashint4(i)) % 100 AS r, abs(hashint4(i + 7)) % 100 AS g) rg
) s
"""


def operator(role: str, branch: str = "SH") -> Operator:
    return Operator(name=f"bench-{role}", role=role, branch=branch, token_hash=role)


ADMIN = operator("admin", "HQ")
SH_OPERATOR = operator("operator", "SH")


def queries(rng: random.Random, n: int, deep: str) -> dict[str, Callable[[], tuple]]:
    """Name → a maker of (caller, CaseSearch), varied per run where a user would vary it."""
    now = datetime.now(UTC)

    def contract_fragment() -> str:
        return f"{rng.randrange(1, n):07d}"

    def plate_fragment() -> str:
        # The letter and the first digits of a plate, as people read them off a car.
        i = rng.randrange(1, n)
        return chr(65 + (i // 10) % 26) + hashlib.md5(str(i).encode()).hexdigest()[:4].upper()

    def name() -> str:
        return rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)

    return {
        "all, first page (admin)": lambda: (ADMIN, CaseSearch()),
        "own branch, first page (operator)": lambda: (SH_OPERATOR, CaseSearch()),
        "status=AWAITING_APPROVAL": lambda: (
            ADMIN,
            CaseSearch(status=[CaseStatus.AWAITING_APPROVAL]),
        ),
        "status=2 open statuses, risk HIGH": lambda: (
            ADMIN,
            CaseSearch(
                status=[CaseStatus.AWAITING_APPROVAL, CaseStatus.IN_REVIEW],
                risk_grade=RiskGrade.HIGH,
            ),
        ),
        "q=contract no fragment": lambda: (ADMIN, CaseSearch(q=contract_fragment())),
        "q=plate fragment (5 chars)": lambda: (ADMIN, CaseSearch(q=plate_fragment())),
        "q=borrower name (3 chars)": lambda: (ADMIN, CaseSearch(q=name())),
        "q=borrower name (2 chars)": lambda: (ADMIN, CaseSearch(q=name()[:2])),
        "q=name, own branch (operator)": lambda: (SH_OPERATOR, CaseSearch(q=name())),
        "branch + created last 30 days": lambda: (
            ADMIN,
            CaseSearch(branch=rng.choice(BRANCHES), created_from=now - timedelta(days=30)),
        ),
        "sla_breached=true": lambda: (ADMIN, CaseSearch(sla_breached=True)),
        "sla_breached, own branch (operator)": lambda: (
            SH_OPERATOR,
            CaseSearch(sla_breached=True, status=[CaseStatus.AWAITING_APPROVAL]),
        ),
        "assignee=op-sh-2": lambda: (SH_OPERATOR, CaseSearch(assignee="op-sh-2")),
        "deep cursor page (row 50k)": lambda: (ADMIN, CaseSearch(cursor=deep)),
        "deep cursor, own branch (row 5k)": lambda: (SH_OPERATOR, CaseSearch(cursor=deep)),
    }


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def indexes_in(plan: dict) -> list[str]:
    found = []
    if "Index Name" in plan:
        found.append(f"{plan['Node Type']} {plan['Index Name']}")
    elif plan.get("Node Type") == "Seq Scan":
        found.append(f"Seq Scan {plan.get('Relation Name')}")
    for child in plan.get("Plans", []):
        found.extend(indexes_in(child))
    return found


async def explain(session, who: Operator, search: CaseSearch) -> tuple[list[str], float]:
    compiled = page_query(search, who).compile(
        dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
    )
    plan_rows = await session.exec(text(f"EXPLAIN (ANALYZE, FORMAT JSON) {compiled}"))
    plan = plan_rows.scalar_one()
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return indexes_in(plan[0]["Plan"]), plan[0]["Execution Time"]


async def fill(url: str, n: int) -> None:
    conn = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        started = time.perf_counter()
        await conn.execute(LOANS_SQL.replace(":n", str(n)))
        await conn.execute(CASES_SQL)
        await conn.execute("ANALYZE loans")
        await conn.execute("ANALYZE cases")
        count = await conn.fetchval("SELECT count(*) FROM cases")
        print(f"inserted {count} cases in {time.perf_counter() - started:.1f}s, analyzed")
    finally:
        await conn.close()


async def deep_cursor(url: str, rank: int, branch: str | None = None) -> str:
    conn = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        where = "WHERE branch = $2" if branch else ""
        args = [rank, branch] if branch else [rank]
        row = await conn.fetchrow(
            f"SELECT created_at, case_id FROM cases {where} "
            "ORDER BY created_at DESC, case_id DESC OFFSET $1 LIMIT 1",
            *args,
        )
    finally:
        await conn.close()
    return encode_cursor(row["created_at"], row["case_id"])


async def create_database(pg: EmbeddedPostgres, ctype: str | None) -> str:
    if ctype is None:
        return await pg.ensure_database("bench")
    conn = await asyncpg.connect(pg.asyncpg_dsn())
    try:
        await conn.execute(
            f"CREATE DATABASE bench TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE '{ctype}'"
        )
    finally:
        await conn.close()
    return pg.dsn("bench")


async def main(cases: int, runs: int, ctype: str | None) -> None:
    with tempfile.TemporaryDirectory(prefix="jieya-bench-search-") as tmp:
        pg = EmbeddedPostgres(Path(tmp) / "pg")
        pg.start()
        try:
            await pg.wait_ready(timeout=60)
            url = await create_database(pg, ctype)
            await upgrade_database(url)
            await fill(url, cases)
            await measure(url, cases, runs, ctype)
        finally:
            pg.stop()


async def measure(url: str, cases: int, runs: int, ctype: str | None) -> None:
    engine = create_engine(url)
    sessions = session_factory(engine)
    rng = random.Random(7)
    deep = await deep_cursor(url, cases // 2)
    deep_branch = await deep_cursor(url, cases // 20, "SH")
    makers = queries(rng, cases, deep)
    makers["deep cursor, own branch (row 5k)"] = lambda: (
        SH_OPERATOR,
        CaseSearch(cursor=deep_branch),
    )
    print(f"\n{cases} cases, LC_CTYPE {ctype or 'C (embedded default)'}, {runs} runs each;")
    print("ms for what GET /cases runs (count + page of 50), and the page query's plan\n")
    print(f"{'query':<38}{'p50':>7}{'p95':>7}{'count':>8}  plan of the page query")
    try:
        for label, make in makers.items():
            timings, total = [], 0
            async with sessions() as session:
                for _ in range(3):  # warm the connection's statement cache
                    await search_cases(session, *make())
                for _ in range(runs):
                    who, search = make()
                    started = time.perf_counter()
                    result = await search_cases(session, who, search)
                    timings.append((time.perf_counter() - started) * 1000)
                    total = result.count
                plan, _ = await explain(session, *make())
            p50, p95 = percentile(timings, 0.5), percentile(timings, 0.95)
            print(f"{label:<38}{p50:>7.1f}{p95:>7.1f}{total:>8}  {', '.join(plan)}")
    finally:
        await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--ctype", default=None, help="LC_CTYPE of the bench database")
    args = parser.parse_args()
    asyncio.run(main(args.cases, args.runs, args.ctype))
