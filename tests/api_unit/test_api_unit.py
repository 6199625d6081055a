"""The HTTP API in-process: validation, auth, role gates and the error shape.

Needs PostgreSQL and the offline time-skipping Temporal
test server; no worker runs, so workflows are started and signalled but never advance."""

from __future__ import annotations

import uuid

import pytest

from kernel.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from models.enums import TaskKind, TaskState
from models.tables import HumanTask, utcnow
from tests.utils.api_unit import (
    HMAC_SECRET,
    MAX_UPLOAD,
    RUN,
    assert_error,
    auth,
    case_body,
    image_bytes,
    ledger_csv,
    png_bytes,
    upload,
)
from tests.utils.inprocess import id_number

pytestmark = [pytest.mark.timeout(120)]


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
