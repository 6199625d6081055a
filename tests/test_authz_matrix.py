"""Every endpoint × every role × a case of the caller's own branch or of another one.

The table below is the authorisation contract: change it only together with the
rule. Each cell runs on a fresh case (with an open approval task and a document)
in the in-process API; Temporal is a stand-in, so a 2xx means "let through".
A new route under /api/v1 fails `test_every_route_has_a_row` until it has a row."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx
import pytest

from kernel.codec import new_key_entry
from models.enums import Role, TaskKind, TaskState
from models.loans import LOAN_COLUMNS, upsert_loans
from models.operators import add_operator
from models.tables import Document, HumanTask
from tests.utils.inprocess import FakeTemporal, case_row, id_number, in_process_api, loan, png, vin

pytestmark = [pytest.mark.timeout(120)]

RUN = uuid.uuid4().hex[:6].upper()
OWN, OTHER = f"A{RUN}", f"B{RUN}"
ROLES = (Role.OPERATOR, Role.SENIOR, Role.AUDITOR, Role.ADMIN)
BRANCHES = ("own", "other")
SEEN, HIDDEN = "seen", "hidden"  # a 200 list that does / does not hold the case

# Every caller works in branch OWN; "other" is a case (and task) of branch OTHER.
# POST /cases, GET /me and the ledger import touch no existing case: both columns agree.
# fmt: off
MATRIX: dict[str, tuple] = {
    #                                                         operator        senior          auditor         admin
    #                                                         own    other    own    other    own    other    own    other
    "GET /api/v1/me":                                        (200,   200,     200,   200,     200,   200,     200,   200),
    "POST /api/v1/cases":                                    (201,   201,     201,   201,     403,   403,     201,   201),
    "GET /api/v1/cases":                                     (SEEN,  HIDDEN,  SEEN,  HIDDEN,  SEEN,  SEEN,    SEEN,  SEEN),
    "GET /api/v1/cases/{case_id}":                           (200,   404,     200,   404,     200,   200,     200,   200),
    "GET /api/v1/cases/{case_id}?reveal=pii":                (403,   404,     200,   404,     200,   200,     200,   200),
    "GET /api/v1/cases/{case_id}/history":                   (200,   404,     200,   404,     200,   200,     200,   200),
    "POST /api/v1/cases/{case_id}/documents":                (201,   404,     201,   404,     403,   403,     201,   201),
    "GET /api/v1/cases/{case_id}/documents/{document_id}/content":
                                                             (200,   404,     200,   404,     200,   200,     200,   200),
    "POST /api/v1/cases/{case_id}/decisions":                (200,   404,     200,   404,     403,   403,     200,   200),
    # The inbox lists what the caller may act on: auditors act on nothing.
    "GET /api/v1/tasks":                                     (SEEN,  HIDDEN,  SEEN,  HIDDEN,  HIDDEN, HIDDEN, SEEN,  SEEN),
    "POST /api/v1/tasks/{task_id}/claim":                    (200,   404,     200,   404,     403,   403,     200,   200),
    # The task is held by someone else of its branch: only seniors and admins may free it.
    "POST /api/v1/tasks/{task_id}/release":                  (403,   404,     200,   404,     403,   403,     200,   200),
    "POST /api/v1/tasks/{task_id}/assign":                   (403,   403,     200,   404,     403,   403,     200,   200),
    "POST /api/v1/loans/import":                             (403,   403,     200,   200,     403,   403,     200,   200),
    # Temporal payloads in plain form: for those who audit, whatever the branch.
    "POST /api/v1/codec/decode":                             (403,   403,     403,   403,     200,   200,     200,   200),
    "POST /api/v1/codec/encode":                             (403,   403,     403,   403,     200,   200,     200,   200),
}
# fmt: on

# Not about operators' roles: liveness and metrics take no token, the registry signs.
EXEMPT = {"GET /api/v1/healthz", "GET /api/v1/metrics", "POST /api/v1/registry/callbacks"}


@dataclass
class Target:
    """The fresh case a cell acts on, and who in its branch holds or may take its task."""

    case_id: str
    task_id: str
    document_id: str
    contract_no: str
    colleague: str  # an operator of the case's branch
    branch: str


@pytest.fixture(scope="module")
async def people(sessions) -> dict[str, str]:
    """Tokens of the four callers (branch OWN) and the names of one operator per branch."""
    tokens = {
        role.value: await add_operator(sessions, f"m-{role.value}-{RUN}", role, branch=OWN)
        for role in ROLES
    }
    for branch in (OWN, OTHER):
        await add_operator(sessions, f"m-colleague-{branch}", Role.OPERATOR, branch=branch)
    return tokens


@pytest.fixture(scope="module")
async def api(database_url, tmp_path_factory):
    async with in_process_api(
        database_url,
        tmp_path_factory.mktemp("authz"),
        FakeTemporal(),
        payload_keys=new_key_entry("authz"),
    ) as (client, app):
        yield client, app


async def make_target(sessions, store, branch: str, held: bool) -> Target:
    contract_no = f"AZ-{RUN}-{uuid.uuid4().hex[:8]}"
    await upsert_loans(sessions, [loan(contract_no)])
    case_id = f"RC-M{uuid.uuid4().hex[:9].upper()}"
    colleague = f"m-colleague-{branch}"
    sha = await store.put(png())
    document_id = f"DOC-M{uuid.uuid4().hex[:10].upper()}"
    async with sessions() as session, session.begin():
        session.add(
            case_row(
                case_id,
                contract_no,
                branch=branch,
                opened_by=f"m-opener-{RUN}",
                assignee=colleague if held else None,
            )
        )
        await session.flush()
        session.add(
            HumanTask(
                task_id=f"{case_id}-approval-1",
                case_id=case_id,
                kind=TaskKind.APPROVAL.value,
                state=TaskState.OPEN.value,
                assignee=colleague if held else None,
            )
        )
        session.add(
            Document(
                document_id=document_id,
                case_id=case_id,
                doc_type="id_card",
                sha256=sha,
                filename="id.png",
                media_type="image/png",
                size_bytes=len(png()),
                uploaded_by=colleague,
            )
        )
    return Target(case_id, f"{case_id}-approval-1", document_id, contract_no, colleague, branch)


def ledger_csv(contract_no: str) -> str:
    row = dict(loan(contract_no), settled_at="2026-01-05")
    return ",".join(LOAN_COLUMNS) + "\n" + ",".join(str(row[c]) for c in LOAN_COLUMNS) + "\n"


async def call(api: httpx.AsyncClient, endpoint: str, t: Target, token: str) -> httpx.Response:
    method, template = endpoint.split(" ", 1)
    url = template.format(case_id=t.case_id, task_id=t.task_id, document_id=t.document_id)
    headers = {"Authorization": f"Bearer {token}"}
    if endpoint == "POST /api/v1/cases":
        # The fresh case holds its contract open; this opens one for a loan of its own.
        body = {
            "loan_contract_no": t.contract_no + "-N",
            "borrower": {"name": "张三", "id_number": id_number(), "phone": "13812345678"},
            "vehicle": {"plate_no": "京A12345", "vin": vin()},
        }
        return await api.post(url, json=body, headers=headers)
    if endpoint == "GET /api/v1/cases":
        return await api.get(url, params={"q": t.contract_no}, headers=headers)
    if endpoint == "GET /api/v1/tasks":
        # Oldest first: this module's own branches keep the fresh task on the one page.
        return await api.get(url, params={"branch": t.branch, "limit": 200}, headers=headers)
    if endpoint.endswith("/documents"):
        files = {"file": ("id.png", png(), "image/png")}
        return await api.post(
            url, files=files, data={"doc_type": "driving_license"}, headers=headers
        )
    if endpoint.endswith("/decisions"):
        return await api.post(url, json={"decision": "approve"}, headers=headers)
    if endpoint.endswith("/assign"):
        return await api.post(url, json={"operator": t.colleague}, headers=headers)
    if "/codec/" in endpoint:
        payload = {"metadata": {"encoding": "anNvbi9wbGFpbg=="}, "data": "e30="}  # json/plain {}
        return await api.post(url, json={"payloads": [payload]}, headers=headers)
    if endpoint.endswith("/loans/import"):
        files = {"file": ("ledger.csv", ledger_csv(t.contract_no + "-L"), "text/csv")}
        return await api.post(url, files=files, headers=headers)
    return await api.request(method, url, headers=headers)


def listed(response: httpx.Response, endpoint: str, t: Target) -> str:
    assert response.status_code == 200, response.text
    key, wanted = ("task_id", t.task_id) if "/tasks" in endpoint else ("case_id", t.case_id)
    return SEEN if any(row[key] == wanted for row in response.json()["data"]) else HIDDEN


CELLS = [
    pytest.param(endpoint, role, branch, expected, id=f"{endpoint} | {role.value} | {branch}")
    for endpoint, row in MATRIX.items()
    for (role, branch), expected in zip(
        [(role, branch) for role in ROLES for branch in BRANCHES], row, strict=True
    )
]


@pytest.mark.parametrize(("endpoint", "role", "branch", "expected"), CELLS)
async def test_cell(api, people, sessions, endpoint, role, branch, expected):
    client, app = api
    if endpoint.split("?")[0] not in routes_of(app):
        pytest.skip(f"{endpoint} is not mounted in this app")
    held = endpoint.endswith("/release")
    target = await make_target(sessions, app.state.store, OWN if branch == "own" else OTHER, held)
    if endpoint == "POST /api/v1/cases":
        await upsert_loans(sessions, [loan(target.contract_no + "-N")])
    response = await call(client, endpoint, target, people[role.value])
    if expected in (SEEN, HIDDEN):
        assert listed(response, endpoint, target) == expected
        return
    assert response.status_code == expected, response.text
    if expected >= 400:
        assert set(response.json()) == {"error"}, response.text


def routes_of(app) -> set[str]:
    """`METHOD /path` of every operation the app publishes (its OpenAPI is true)."""
    return {
        f"{method.upper()} {path}"
        for path, operations in app.openapi()["paths"].items()
        if path.startswith("/api/v1")
        for method in operations
    }


async def test_every_route_has_a_row(api):
    _, app = api
    covered = {endpoint.split("?")[0] for endpoint in MATRIX}
    missing = routes_of(app) - covered - EXEMPT
    assert not missing, f"add these to MATRIX: {sorted(missing)}"
