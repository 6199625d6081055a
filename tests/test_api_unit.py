"""The HTTP API in-process: validation, auth, role gates and the error shape.

Needs PostgreSQL and the offline time-skipping Temporal
test server; no worker runs, so workflows are started and signalled but never advance."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from PIL import Image
from temporalio.client import WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api import opening, views
from api.app import create_app
from api.errors import temporal_error
from api.routes import decisions
from kernel.settings import Settings
from kernel.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from models.enums import CaseStatus, Role, TaskKind, TaskState
from models.loans import upsert_loans
from models.operators import add_operator, revoke_operator
from models.tables import Case, HumanTask, Operator, RegistryRequest, RiskAssessment, utcnow
from tests.utils.inprocess import FakeHandle, FakeTemporal, id_number, loan, vin
from workflows.decisions import DUPLICATE, FORBIDDEN, FOUR_EYES, WRONG_STATE

MAX_UPLOAD = 200_000
HMAC_SECRET = "unit-test-secret"
RUN = uuid.uuid4().hex[:8].upper()

pytestmark = [pytest.mark.timeout(120)]


def loan_row(contract_no: str) -> dict:
    return loan(contract_no, settled=False)


def case_body(contract_no: str, **borrower) -> dict:
    return {
        "loan_contract_no": contract_no,
        "borrower": {"name": "张三", "id_number": id_number(), "phone": "13812345678", **borrower},
        "vehicle": {"plate_no": "京A12345", "vin": vin()},
    }


def image_bytes(fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), "white").save(buffer, format=fmt)
    return buffer.getvalue()


def png_bytes() -> bytes:
    return image_bytes("PNG")


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    if code:
        assert body["error"]["code"] == code, body
    assert "Traceback" not in response.text
    return body["error"]["message"]


@pytest.fixture(scope="module")
async def tokens(sessions) -> dict[str, str]:
    people = {
        "alice": Role.OPERATOR,
        "bob": Role.SENIOR,
        "erin": Role.SENIOR,
        "carol": Role.AUDITOR,
        "mallory": Role.OPERATOR,
        "trudy": Role.OPERATOR,
    }
    tokens = {}
    for name, role in people.items():
        tokens[name] = await add_operator(sessions, f"u{name}-{RUN}", role, branch="SH")
    await revoke_operator(sessions, f"umallory-{RUN}")
    async with sessions() as session:
        trudy = await session.get(Operator, f"utrudy-{RUN}")
        trudy.expires_at = utcnow() - timedelta(days=1)
        session.add(trudy)
        await session.commit()
    return tokens


@pytest.fixture(scope="module")
async def api(
    sessions, database_url, time_env, tmp_path_factory
) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        env="test",
        database_url=database_url,
        temporal_address=time_env.client.service_client.config.target_host,
        data_dir=tmp_path_factory.mktemp("jieya"),
        max_upload_bytes=MAX_UPLOAD,
        registry_hmac_secret=HMAC_SECRET,
    )
    app = create_app(settings)

    async def boom() -> None:
        raise RuntimeError("secret internals 110101199003071234")

    app.add_api_route("/api/v1/_boom", boom)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://jieya.test") as client:
            yield client


def auth(tokens: dict[str, str], who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[who]}"}


@pytest.fixture
async def contract(sessions) -> str:
    contract_no = f"HT-{RUN}-{uuid.uuid4().hex[:6]}"
    await upsert_loans(sessions, [loan_row(contract_no)])
    return contract_no


@pytest.fixture
async def case_id(api, tokens, contract) -> str:
    response = await api.post(
        "/api/v1/cases", json=case_body(contract), headers=auth(tokens, "alice")
    )
    assert response.status_code == 201, response.text
    return response.json()["case_id"]


# --- health, error shape ---------------------------------------------------


async def test_healthz_needs_no_token(api):
    response = await api.get("/healthz")
    assert response.json() == {"ok": True, "database": True, "temporal": True}
    assert (await api.get("/api/v1/healthz")).status_code == 200


async def test_unknown_route_and_method_use_the_error_shape(api, tokens):
    assert_error(await api.get("/api/v1/nope", headers=auth(tokens, "alice")), 404, "not_found")
    assert_error(await api.delete("/api/v1/cases", headers=auth(tokens, "alice")), 405)


async def test_unhandled_error_is_a_plain_500(api):
    response = await api.get("/api/v1/_boom")
    message = assert_error(response, 500, "internal_error")
    assert "secret" not in message and "RuntimeError" not in response.text


async def test_metrics_count_by_route_template(api, tokens, case_id):
    await api.get(f"/api/v1/cases/{case_id}/history", headers=auth(tokens, "carol"))
    text = (await api.get("/metrics")).text
    assert 'route="/api/v1/cases/{case_id}/history"' in text
    assert case_id not in text


# --- authentication ----------------------------------------------------------


async def test_missing_token_is_401(api):
    response = await api.get("/api/v1/cases")
    assert "bearer" in assert_error(response, 401, "unauthorized").lower()
    assert response.headers["www-authenticate"] == "Bearer"


async def test_unknown_revoked_and_expired_tokens_are_401(api, tokens):
    bad = {"Authorization": "Bearer jy_not-a-real-token"}
    assert assert_error(await api.get("/api/v1/cases", headers=bad), 401) == "unknown token"
    revoked = await api.get("/api/v1/cases", headers=auth(tokens, "mallory"))
    assert "revoked" in assert_error(revoked, 401)
    expired = await api.get("/api/v1/cases", headers=auth(tokens, "trudy"))
    assert "expired" in assert_error(expired, 401)


# --- opening cases -------------------------------------------------------------


async def test_missing_fields_name_each_field(api, tokens):
    response = await api.post(
        "/api/v1/cases", json={"borrower": {"name": "张三"}}, headers=auth(tokens, "alice")
    )
    message = assert_error(response, 422, "validation_error")
    for field in ("loan_contract_no", "borrower.id_number", "borrower.phone", "vehicle"):
        assert field in message


@pytest.mark.parametrize(
    ("borrower", "vehicle", "field", "reason"),
    [
        ({"id_number": "110101199003071230"}, {}, "borrower.id_number", "check character"),
        ({"id_number": "123"}, {}, "borrower.id_number", "expected 18"),
        ({"phone": "12812345678"}, {}, "borrower.phone", "mainland mobile"),
        ({"email": "not-an-address"}, {}, "borrower.email", "e-mail"),
        ({}, {"vin": "LSVAU2180N218329O"}, "vehicle.vin", "never uses"),
        ({}, {"plate_no": "XA12345"}, "vehicle.plate_no", "province"),
    ],
)
async def test_invalid_identifiers_are_422_with_the_reason(
    api, tokens, borrower, vehicle, field, reason
):
    body = case_body("HT-ANY", **borrower)
    body["vehicle"].update(vehicle)
    message = assert_error(
        await api.post("/api/v1/cases", json=body, headers=auth(tokens, "alice")), 422
    )
    assert message.startswith(field) and reason in message, message
    assert "110101199003071230" not in message  # the input is never echoed


async def test_malformed_json_is_422(api, tokens):
    response = await api.post(
        "/api/v1/cases",
        content=b"{not json",
        headers={**auth(tokens, "alice"), "Content-Type": "application/json"},
    )
    assert_error(response, 422, "validation_error")


async def test_unknown_loan_is_422(api, tokens):
    response = await api.post(
        "/api/v1/cases", json=case_body(f"HT-NONE-{RUN}"), headers=auth(tokens, "alice")
    )
    assert "unknown loan contract" in assert_error(response, 422, "unknown_loan")


async def test_auditor_cannot_open_a_case(api, tokens, contract):
    response = await api.post(
        "/api/v1/cases", json=case_body(contract), headers=auth(tokens, "carol")
    )
    assert_error(response, 403, "forbidden")


async def test_second_open_case_for_a_contract_is_409(api, tokens, contract, case_id):
    response = await api.post(
        "/api/v1/cases", json=case_body(contract), headers=auth(tokens, "bob")
    )
    assert case_id in assert_error(response, 409, "case_already_open")


async def test_idempotency_key_returns_the_same_case(api, tokens, contract):
    headers = {**auth(tokens, "alice"), "Idempotency-Key": f"k-{uuid.uuid4()}"}
    first = await api.post("/api/v1/cases", json=case_body(contract), headers=headers)
    again = await api.post("/api/v1/cases", json=case_body(contract), headers=headers)
    assert first.status_code == 201 and again.status_code in (200, 201)
    assert again.json() == first.json()
    assert first.json()["case_id"].startswith("RC-") and len(first.json()["case_id"]) == 13
    changed = case_body(contract, name="李四")
    response = await api.post("/api/v1/cases", json=changed, headers=headers)
    assert_error(response, 422, "idempotency_key_reused")


async def test_case_view_masks_pii(api, tokens, case_id):
    response = await api.get(f"/api/v1/cases/{case_id}", headers=auth(tokens, "carol"))
    assert response.status_code == 200, response.text
    case = response.json()
    assert case["status"] == "AWAITING_DOCUMENTS" and case["branch"] == "SH"
    assert case["borrower"]["id_number"] == id_number()[:6] + "********" + id_number()[-4:]
    assert case["borrower"]["phone"] == "138****5678"
    assert id_number() not in response.text and "13812345678" not in response.text
    history = await api.get(f"/api/v1/cases/{case_id}/history", headers=auth(tokens, "carol"))
    assert [e["event"] for e in history.json()["data"]] == ["case.opened"]


async def test_unknown_case_is_404(api, tokens):
    response = await api.get("/api/v1/cases/RC-NOPE", headers=auth(tokens, "alice"))
    assert_error(response, 404, "case_not_found")


@pytest.mark.parametrize(
    "query", ["status=OPEN", "risk_grade=EXTREME", "limit=0", "limit=201", "offset=-1"]
)
async def test_bad_list_filters_are_422(api, tokens, query):
    response = await api.get(f"/api/v1/cases?{query}", headers=auth(tokens, "alice"))
    assert_error(response, 422, "validation_error")


async def test_list_filters_by_text(api, tokens, contract, case_id):
    response = await api.get(f"/api/v1/cases?q={contract}", headers=auth(tokens, "alice"))
    assert response.json()["count"] == 1 and response.json()["data"][0]["case_id"] == case_id
    none = await api.get("/api/v1/cases?q=%25_nothing_%25", headers=auth(tokens, "alice"))
    assert none.json() == {"data": [], "count": 0, "next_cursor": None}


# --- documents --------------------------------------------------------------------


async def upload(api, tokens, case_id, data: bytes, doc_type="id_card", who="alice"):
    return await api.post(
        f"/api/v1/cases/{case_id}/documents",
        files={"file": ("photo.jpg", data, "image/jpeg")},
        data={"doc_type": doc_type},
        headers=auth(tokens, who),
    )


async def test_document_checks(api, tokens, case_id):
    assert_error(await upload(api, tokens, case_id, b""), 422, "empty_file")
    heic = b"\x00\x00\x00\x18ftypheic" + b"\x00" * 64
    assert "HEIC" in assert_error(await upload(api, tokens, case_id, heic), 415)
    broken = b"\x89PNG\r\n\x1a\n" + b"garbage" * 20
    assert_error(await upload(api, tokens, case_id, broken), 422, "corrupt_document")
    too_big = b"\xff\xd8\xff" + b"\x00" * MAX_UPLOAD
    assert_error(await upload(api, tokens, case_id, too_big), 413, "file_too_large")
    assert_error(await upload(api, tokens, case_id, png_bytes(), doc_type="passport"), 422)
    assert_error(await upload(api, tokens, case_id, png_bytes(), who="carol"), 403)
    assert_error(await upload(api, tokens, "RC-NOPE", png_bytes()), 404, "case_not_found")


async def test_same_document_twice_is_a_duplicate(api, tokens, case_id):
    first = await upload(api, tokens, case_id, png_bytes())
    assert first.status_code == 201, first.text
    again = await upload(api, tokens, case_id, png_bytes())
    assert again.status_code == 200 and again.json() == {**first.json(), "duplicate": True}
    scan = await upload(api, tokens, case_id, image_bytes("PDF"), doc_type="settlement_certificate")
    assert scan.status_code == 201 and scan.json()["duplicate"] is False, scan.text
    view = (await api.get(f"/api/v1/cases/{case_id}", headers=auth(tokens, "alice"))).json()
    assert [d["media_type"] for d in view["documents"]] == ["image/png", "application/pdf"]
    history = await api.get(f"/api/v1/cases/{case_id}/history", headers=auth(tokens, "alice"))
    assert [e["event"] for e in history.json()["data"]].count("document.uploaded") == 2


# --- decisions and tasks ------------------------------------------------------------


async def test_auditor_cannot_decide(api, tokens, case_id):
    body = {"decision": "approve", "comment": "ok"}
    response = await api.post(
        f"/api/v1/cases/{case_id}/decisions", json=body, headers=auth(tokens, "carol")
    )
    assert "auditor" in assert_error(response, 403, "forbidden")


async def test_decision_validation_and_unknown_case(api, tokens, case_id):
    bad = await api.post(
        f"/api/v1/cases/{case_id}/decisions",
        json={"decision": "maybe"},
        headers=auth(tokens, "alice"),
    )
    assert "decision" in assert_error(bad, 422, "validation_error")
    unknown = await api.post(
        "/api/v1/cases/RC-NOPE/decisions", json={"decision": "reject"}, headers=auth(tokens, "bob")
    )
    assert_error(unknown, 404, "case_not_found")


async def test_tasks_respect_roles_and_four_eyes(api, tokens, sessions, case_id):
    async with sessions() as session:
        for kind, details in (
            (TaskKind.APPROVAL, {}),
            (TaskKind.SECOND_APPROVAL, {"first": [f"ubob-{RUN}"]}),
        ):
            session.add(
                HumanTask(
                    task_id=f"{case_id}-{kind.value}-1",
                    case_id=case_id,
                    kind=kind.value,
                    state=TaskState.OPEN.value,
                    details=details,
                )
            )
        await session.commit()

    async def kinds(who: str) -> set[str]:
        response = await api.get("/api/v1/tasks", headers=auth(tokens, who))
        assert response.status_code == 200, response.text
        return {t["kind"] for t in response.json()["data"] if t["case_id"] == case_id}

    assert await kinds("alice") == {"approval"}
    assert await kinds("bob") == {"approval"}  # bob gave the first approval
    assert await kinds("erin") == {"approval", "second_approval"}
    assert (await api.get("/api/v1/tasks", headers=auth(tokens, "carol"))).json() == {
        "data": [],
        "count": 0,
    }


# --- ledger import --------------------------------------------------------------------


def ledger_csv(contract_no: str) -> str:
    """A one-loan ledger file in which the loan is settled."""
    header = "contract_no,borrower_name,id_number,phone,plate_no,vin,lender,status,outstanding_amount,settled_at"
    row = f"{contract_no},张三,{id_number()},13812345678,京A12345,{vin()},华夏,settled,0,2026-01-05"
    return f"{header}\n{row}\n"


async def test_ledger_import_roles_and_errors(api, tokens):
    good = ledger_csv(f"HT-CSV-{RUN}")
    denied = await api.post(
        "/api/v1/loans/import", files={"file": ("l.csv", good)}, headers=auth(tokens, "alice")
    )
    assert_error(denied, 403, "forbidden")
    bad = good.replace(id_number(), "110101199003071230")
    response = await api.post(
        "/api/v1/loans/import", files={"file": ("l.csv", bad)}, headers=auth(tokens, "bob")
    )
    message = assert_error(response, 422, "ledger_import_error")
    assert "line 2" in message and "id_number" in message
    ok = await api.post(
        "/api/v1/loans/import",
        content=good.encode(),
        headers={**auth(tokens, "bob"), "Content-Type": "text/csv"},
    )
    assert ok.status_code == 200, ok.text
    assert ok.json() == {"imported": 1, "cases_signalled": 0}


# --- registry callbacks ---------------------------------------------------------------


async def test_registry_callback_signature_and_lookup(api):
    body = b'{"idempotency_key":"nope","registry_ref":"R1","status":"COMPLETED","reason":null}'
    assert_error(await api.post("/api/v1/registry/callbacks", content=body), 401, "bad_signature")

    def signed(payload: bytes) -> dict[str, str]:
        ts = str(int(utcnow().timestamp()))
        return {TIMESTAMP_HEADER: ts, SIGNATURE_HEADER: sign(HMAC_SECRET, ts, payload)}

    forged = {**signed(body), SIGNATURE_HEADER: sign("wrong", "1", body)}
    assert_error(await api.post("/api/v1/registry/callbacks", content=body, headers=forged), 401)
    unknown = await api.post("/api/v1/registry/callbacks", content=body, headers=signed(body))
    assert_error(unknown, 404, "registry_request_not_found")
    junk = b'{"idempotency_key":"x","status":"DONE"}'
    invalid = await api.post("/api/v1/registry/callbacks", content=junk, headers=signed(junk))
    assert "status" in assert_error(invalid, 422, "validation_error")


# --- races, lost starts and closed workflows ---------------------------------------------


async def test_open_case_race_on_the_unique_index_is_409(
    api, tokens, contract, case_id, monkeypatch
):
    async def no_check(_session, _contract_no) -> None:
        return None  # as if the other request committed between our check and our insert

    monkeypatch.setattr(opening, "_refuse_unless_openable", no_check)
    response = await api.post(
        "/api/v1/cases", json=case_body(contract), headers=auth(tokens, "bob")
    )
    assert "already open" in assert_error(response, 409, "case_already_open")


async def test_retry_after_a_lost_start_starts_the_workflow(
    api, tokens, contract, time_env, monkeypatch
):
    real_start = opening.start_case

    async def engine_down(*_args, **_kwargs):
        raise RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b"")

    headers = {**auth(tokens, "alice"), "Idempotency-Key": f"k-{uuid.uuid4()}"}
    monkeypatch.setattr(opening, "start_case", engine_down)
    lost = await api.post("/api/v1/cases", json=case_body(contract), headers=headers)
    assert "same Idempotency-Key" in assert_error(lost, 503, "temporal_unavailable")
    monkeypatch.setattr(opening, "start_case", real_start)
    retry = await api.post("/api/v1/cases", json=case_body(contract), headers=headers)
    assert retry.status_code in (200, 201), retry.text
    handle = time_env.client.get_workflow_handle(retry.json()["case_id"])
    description = await handle.describe(rpc_timeout=timedelta(seconds=5))
    assert description.status == WorkflowExecutionStatus.RUNNING


async def test_closed_workflow_answers_409(api, tokens, time_env, case_id):
    handle = time_env.client.get_workflow_handle(case_id)
    await handle.terminate("unit test", rpc_timeout=timedelta(seconds=5))
    decided = await api.post(
        f"/api/v1/cases/{case_id}/decisions",
        json={"decision": "approve"},
        headers=auth(tokens, "alice"),
    )
    assert assert_error(decided, 409, "case_closed") == "case is closed"
    uploaded = await upload(api, tokens, case_id, png_bytes())
    assert_error(uploaded, 409, "case_closed")


async def test_closed_case_takes_no_documents(api, tokens, sessions, case_id):
    async with sessions() as session:
        case = await session.get(Case, case_id)
        case.status = CaseStatus.COMPLETED.value
        session.add(case)
        await session.commit()
    assert "COMPLETED" in assert_error(await upload(api, tokens, case_id, png_bytes()), 409)


@pytest.mark.parametrize(
    ("refusal", "status", "code"),
    [
        (FORBIDDEN, 403, "forbidden"),
        (FOUR_EYES, 403, "four_eyes"),
        (WRONG_STATE, 409, "wrong_state"),
        (DUPLICATE, 409, "duplicate_decision"),
    ],
)
def test_update_refusals_map_by_type(refusal, status, code):
    error = WorkflowUpdateFailedError(ApplicationError("the reason", type=refusal))
    mapped = temporal_error(error)
    assert (mapped.status_code, mapped.code, mapped.message) == (status, code, "the reason")


def test_rpc_errors_map_to_status_codes():
    def mapped(status: RPCStatusCode) -> int:
        return temporal_error(RPCError("x", status, b"")).status_code

    assert mapped(RPCStatusCode.NOT_FOUND) == 409
    assert mapped(RPCStatusCode.DEADLINE_EXCEEDED) == 504
    assert mapped(RPCStatusCode.UNAVAILABLE) == 503


# --- hostile input and the happy paths that need no worker ------------------------------


async def test_nul_characters_and_odd_ids_are_not_500s(api, tokens, contract):
    body = case_body(contract, name="张\u0000三")
    response = await api.post("/api/v1/cases", json=body, headers=auth(tokens, "alice"))
    assert "NUL" in assert_error(response, 422, "validation_error")
    search = await api.get("/api/v1/cases?q=a%00b", headers=auth(tokens, "alice"))
    assert_error(search, 422, "validation_error")
    odd = await api.get("/api/v1/cases/RC-%00%FF", headers=auth(tokens, "alice"))
    assert_error(odd, 404, "case_not_found")


async def test_ledger_import_wakes_the_open_case(api, tokens, contract, case_id):
    response = await api.post(
        "/api/v1/loans/import",
        files={"file": ("ledger.csv", ledger_csv(contract), "text/csv")},
        headers=auth(tokens, "bob"),
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"imported": 1, "cases_signalled": 1}


async def test_registry_callback_is_accepted_once(api, tokens, sessions, case_id):
    key = f"{case_id}-dereg-1"
    async with sessions() as session:
        session.add(RegistryRequest(idempotency_key=key, case_id=case_id, status="PENDING"))
        await session.commit()
    body = json.dumps({"idempotency_key": key, "registry_ref": "R-1", "status": "COMPLETED"})
    for _ in range(2):  # the registry retries deliveries
        ts = str(int(utcnow().timestamp()))
        headers = {TIMESTAMP_HEADER: ts, SIGNATURE_HEADER: sign(HMAC_SECRET, ts, body.encode())}
        response = await api.post("/api/v1/registry/callbacks", content=body, headers=headers)
        assert response.status_code == 202, response.text
    history = await api.get(f"/api/v1/cases/{case_id}/history", headers=auth(tokens, "carol"))
    events = [e["event"] for e in history.json()["data"]]
    assert events == ["case.opened", "registry.callback"]


async def test_backing_services_down_is_503_and_healthz_still_answers(tmp_path):
    settings = Settings(
        env="test",
        database_url="postgresql://postgres@127.0.0.1:1/nowhere",
        temporal_address="127.0.0.1:1",
        data_dir=tmp_path,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://jieya.test") as client:
            health = await client.get("/healthz")
            assert health.json() == {"ok": True, "database": False, "temporal": False}
            response = await client.get("/api/v1/cases", headers={"Authorization": "Bearer x"})
            assert_error(response, 503, "unavailable")


# --- who I am, PII on request, claims and the inbox ------------------------------------


async def task_case(sessions, *, kind=TaskKind.APPROVAL, opened_by="someone", **task) -> str:
    """A case of branch SH waiting on one open task (rows only: no workflow)."""
    contract_no = f"HT-{RUN}-{uuid.uuid4().hex[:6]}"
    await upsert_loans(sessions, [loan_row(contract_no)])
    case_id = f"RC-U{uuid.uuid4().hex[:9].upper()}"
    async with sessions() as session, session.begin():
        session.add(
            Case(
                case_id=case_id,
                loan_contract_no=contract_no,
                borrower_name="张三",
                borrower_id_number=id_number(),
                borrower_phone="13812345678",
                plate_no="京A12345",
                vin=vin(),
                status=CaseStatus.AWAITING_APPROVAL.value,
                step=f"awaiting_{kind.value}",
                branch="SH",
                opened_by=opened_by,
                assignee=task.get("assignee"),
            )
        )
        await session.flush()
        session.add(
            HumanTask(
                task_id=f"{case_id}-{kind.value}-1",
                case_id=case_id,
                kind=kind.value,
                state=TaskState.OPEN.value,
                **task,
            )
        )
    return case_id


def task_of(case_id: str, kind: TaskKind = TaskKind.APPROVAL) -> str:
    return f"{case_id}-{kind.value}-1"


async def events_of(api, tokens, case_id) -> list[tuple[str, str, dict]]:
    history = await api.get(f"/api/v1/cases/{case_id}/history", headers=auth(tokens, "carol"))
    return [(e["event"], e["actor"], e["details"]) for e in history.json()["data"]]


async def test_me_names_role_and_branch(api, tokens):
    response = await api.get("/api/v1/me", headers=auth(tokens, "bob"))
    assert response.json() == {"name": f"ubob-{RUN}", "role": "senior", "branch": "SH"}


async def test_pii_is_masked_everywhere_unless_revealed_and_each_reveal_is_audited(
    api, tokens, sessions
):
    quoted = f"id_card.id_number: document says {id_number()!r}; call 13812345678"
    case_id = await task_case(sessions, details={"reasons": [quoted]})
    async with sessions() as session, session.begin():
        session.add(RiskAssessment(case_id=case_id, grade="HIGH", reasons=[quoted]))
    masked_view = await api.get(f"/api/v1/cases/{case_id}", headers=auth(tokens, "bob"))
    assert masked_view.status_code == 200, masked_view.text
    inbox = await api.get("/api/v1/tasks?limit=200", headers=auth(tokens, "bob"))
    listing = await api.get("/api/v1/cases?q=张三", headers=auth(tokens, "bob"))
    for response in (masked_view, inbox, listing):
        assert id_number() not in response.text and "13812345678" not in response.text
    assert "110101********" in masked_view.json()["risk"]["reasons"][0]

    denied = await api.get(f"/api/v1/cases/{case_id}?reveal=pii", headers=auth(tokens, "alice"))
    assert "may not see full ID and phone numbers" in assert_error(denied, 403, "forbidden")
    for who in ("bob", "carol"):
        full = await api.get(f"/api/v1/cases/{case_id}?reveal=true", headers=auth(tokens, who))
        assert full.status_code == 200, full.text
        assert full.json()["borrower"] == {
            "name": "张三",
            "id_number": id_number(),
            "phone": "13812345678",
        }
        assert full.json()["risk"]["reasons"] == [quoted]
    reveals = [(a, d) for e, a, d in await events_of(api, tokens, case_id) if e == "pii.revealed"]
    assert reveals == [
        (f"u{who}-{RUN}", {"fields": ["borrower.id_number", "borrower.phone"], "role": role})
        for who, role in (("bob", "senior"), ("carol", "auditor"))
    ]
    assert_error(
        await api.get(f"/api/v1/cases/{case_id}?reveal=all", headers=auth(tokens, "bob")), 422
    )


async def test_claim_release_and_assign(api, tokens, sessions):
    frank = await add_operator(sessions, f"ufrank-{RUN}", Role.OPERATOR, branch="SH")
    await add_operator(sessions, f"ugina-{RUN}", Role.OPERATOR, branch="BJ")
    tokens = {**tokens, "frank": frank}
    case_id = await task_case(sessions, opened_by=f"ufrank-{RUN}")
    task = task_of(case_id)

    async def post(who: str, action: str, **body) -> httpx.Response:
        return await api.post(
            f"/api/v1/tasks/{task}/{action}", json=body or None, headers=auth(tokens, who)
        )

    claimed = await post("alice", "claim")
    assert claimed.status_code == 200 and claimed.json()["assignee"] == f"ualice-{RUN}"
    assert (await post("alice", "claim")).status_code == 200  # already hers: no-op
    held = await api.get(f"/api/v1/cases?assignee=ualice-{RUN}", headers=auth(tokens, "bob"))
    assert case_id in {c["case_id"] for c in held.json()["data"]}
    assert f"claimed by ualice-{RUN}" in assert_error(
        await post("bob", "claim"), 409, "task_claimed"
    )
    assert "only they or a senior" in assert_error(await post("frank", "release"), 403)
    released = await post("bob", "release")
    assert released.status_code == 200 and released.json()["assignee"] is None
    assert_error(await post("bob", "release"), 409, "task_not_claimed")
    # The opener may not take the approval of their own case.
    assert "opened this case" in assert_error(await post("frank", "claim"), 403, "four_eyes")

    assert_error(await post("alice", "assign", operator=f"uerin-{RUN}"), 403, "forbidden")
    for target, reason in (
        ("nobody", "no active operator"),
        (f"umallory-{RUN}", "no active operator"),  # revoked
        (f"ucarol-{RUN}", "may not decide"),
        (f"ugina-{RUN}", "cannot see this case"),
        (f"ufrank-{RUN}", "opened this case"),
    ):
        refused = await post("bob", "assign", operator=target)
        assert reason in assert_error(refused, 422, "invalid_assignee"), target
    assigned = await post("bob", "assign", operator=f"uerin-{RUN}")
    assert assigned.status_code == 200 and assigned.json()["assignee"] == f"uerin-{RUN}"
    trail = [(e, a, d["assignee"]) for e, a, d in await events_of(api, tokens, case_id)]
    assert trail == [
        ("task.claimed", f"ualice-{RUN}", f"ualice-{RUN}"),
        ("task.released", f"ubob-{RUN}", None),
        ("task.assigned", f"ubob-{RUN}", f"uerin-{RUN}"),
    ]
    assert_error(await api.post("/api/v1/tasks/RC-NOPE-x/claim", headers=auth(tokens, "bob")), 404)


async def test_inbox_filters_and_the_senior_queue(api, tokens, sessions):
    past = utcnow() - timedelta(hours=1)
    overdue = task_of(await task_case(sessions, due_at=past))
    escalated = task_of(await task_case(sessions, due_at=past, queue="senior", escalated_at=past))
    second = TaskKind.SECOND_APPROVAL
    first_by_bob = task_of(
        await task_case(sessions, kind=second, details={"first": [f"ubob-{RUN}"]}), second
    )
    held = task_of(
        await task_case(sessions, assignee=f"ualice-{RUN}", due_at=utcnow() + timedelta(days=1))
    )
    ours = {overdue, escalated, first_by_bob, held}

    async def inbox(who: str, query: str = "") -> set[str]:
        response = await api.get(f"/api/v1/tasks?limit=200&{query}", headers=auth(tokens, who))
        assert response.status_code == 200, response.text
        return {t["task_id"] for t in response.json()["data"]} & ours

    assert await inbox("alice") == {overdue, held}
    assert await inbox("alice", "overdue=true") == {overdue}
    assert await inbox("alice", "overdue=false") == {held}
    assert await inbox("alice", "mine=true") == {held}
    assert await inbox("bob", f"assignee=ualice-{RUN}") == {held}
    assert await inbox("alice", "queue=senior") == set()
    assert await inbox("alice", "branch=BJ") == set()
    assert await inbox("bob", "queue=senior") == {escalated}
    assert await inbox("bob") == {overdue, escalated, held}  # bob gave the first approval
    assert await inbox("erin", "kind=second_approval") == {first_by_bob}
    assert_error(await api.get("/api/v1/tasks?queue=vip", headers=auth(tokens, "bob")), 422)

    async def claim(who: str, task_id: str) -> httpx.Response:
        return await api.post(f"/api/v1/tasks/{task_id}/claim", headers=auth(tokens, who))

    assert "escalated to the senior queue" in assert_error(await claim("alice", escalated), 403)
    assert "from a senior" in assert_error(await claim("alice", first_by_bob), 403, "four_eyes")
    assert "already approved" in assert_error(await claim("bob", first_by_bob), 403, "four_eyes")
    assert (await claim("bob", escalated)).status_code == 200


async def test_a_decision_acts_on_a_claimed_task(api, tokens, sessions, monkeypatch):
    fake = FakeTemporal()
    monkeypatch.setattr(
        decisions, "case_handle", lambda _client, case_id: FakeHandle(fake, case_id)
    )
    case_id = await task_case(sessions, opened_by=f"ualice-{RUN}")
    task = task_of(case_id)

    async def decide(who: str, decision: str = "approve") -> httpx.Response:
        return await api.post(
            f"/api/v1/cases/{case_id}/decisions",
            json={"decision": decision},
            headers=auth(tokens, who),
        )

    async def holder() -> tuple[str | None, str | None]:
        async with sessions() as session:
            row = await session.get(HumanTask, task)
            case = await session.get(Case, case_id)
            return row.assignee, case.assignee

    # Refused before the workflow hears of it, with the validator's own words.
    assert "opened this case" in assert_error(await decide("alice"), 403, "four_eyes")
    assert fake.updates == [] and await holder() == (None, None)
    await api.post(f"/api/v1/tasks/{task}/claim", headers=auth(tokens, "erin"))
    assert f"claimed by uerin-{RUN}" in assert_error(await decide("bob"), 409, "task_claimed")
    await api.post(f"/api/v1/tasks/{task}/release", headers=auth(tokens, "erin"))

    fake.refuse = (FOUR_EYES, "the workflow says no")
    assert assert_error(await decide("bob"), 403, "four_eyes") == "the workflow says no"
    assert await holder() == (None, None)  # the claim taken for the decision is given back
    fake.refuse = None
    decided = await decide("bob")
    assert decided.status_code == 200, decided.text
    assert await holder() == (f"ubob-{RUN}", None)  # who decided; the case waits on nobody
    request = fake.updates[-1][1]
    assert (request.actor, request.role, request.decision) == (
        f"ubob-{RUN}",
        Role.SENIOR,
        "approve",
    )
    events = [(e, d.get("auto")) for e, _, d in await events_of(api, tokens, case_id)]
    assert events == [
        ("task.claimed", None),
        ("task.released", None),
        ("task.claimed", True),
        ("task.released", None),
        ("task.claimed", True),
    ]


def test_masking_reaches_ocr_readings_mismatches_and_free_text():
    ocr = {
        "fields": {"id_number": {"value": "1101011990O307123X", "confidence": 0.8}},
        "mismatches": [{"field": "id_number", "ocr_value": "11O1", "expected": id_number()}],
        "issues": [f"low confidence on {id_number()}", "phone 13812345678 unreadable"],
        "vin": vin(),
    }
    assert views.masked(ocr) == {
        "fields": {"id_number": {"value": "110101********123X", "confidence": 0.8}},
        "mismatches": [
            {
                "field": "id_number",
                "ocr_value": "****",
                "expected": "110101********" + id_number()[-4:],
            }
        ],
        "issues": [
            f"low confidence on 110101********{id_number()[-4:]}",
            "phone 138****5678 unreadable",
        ],
        "vin": vin(),  # 17 characters: a VIN is no ID number
    }
