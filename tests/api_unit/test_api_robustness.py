"""The HTTP API in-process: races, lost workflow starts, closed cases, hostile input.

Needs PostgreSQL and the offline time-skipping Temporal
test server; no worker runs, so workflows are started and signalled but never advance."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import text
from temporalio.client import WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api import opening
from api.app import APPLICATION_NAME, create_app
from api.errors import temporal_error
from kernel.settings import Settings
from kernel.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from models.enums import CaseStatus
from models.tables import Case, RegistryRequest, utcnow
from tests.utils.api_unit import (
    HMAC_SECRET,
    assert_error,
    auth,
    case_body,
    ledger_csv,
    png_bytes,
    upload,
)
from workflows.decisions import DUPLICATE, FORBIDDEN, FOUR_EYES, WRONG_STATE

pytestmark = [pytest.mark.timeout(120)]


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
    answers = []
    for _ in range(2):  # the same delivery again, freshly signed: a replay
        ts = str(int(utcnow().timestamp()))
        headers = {TIMESTAMP_HEADER: ts, SIGNATURE_HEADER: sign(HMAC_SECRET, ts, body.encode())}
        response = await api.post("/api/v1/registry/callbacks", content=body, headers=headers)
        answers.append(response.status_code)
    assert answers == [202, 409]
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


async def test_connections_the_database_dropped_cost_one_request_at_most(
    api, tokens, sessions, case_id
):
    """The API's pool does not ping before each request: a connection the database
    dropped (a restart) fails one request with a 503, and the pool is renewed."""
    for _ in range(3):  # connections in the pool, idle
        assert (await api.get(f"/api/v1/cases/{case_id}", headers=auth(tokens, "alice"))).is_success
    async with sessions() as session:
        dropped = await session.exec(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = :name AND datname = current_database()"
            ).bindparams(name=APPLICATION_NAME)
        )
        assert dropped.scalar_one() >= 1
    answers = [
        await api.get(f"/api/v1/cases/{case_id}", headers=auth(tokens, "alice")) for _ in range(6)
    ]
    failed = [r for r in answers if not r.is_success]
    assert len(failed) <= 1, [r.text for r in failed]
    for response in failed:
        assert_error(response, 503, "unavailable")
    assert answers[-1].status_code == 200
