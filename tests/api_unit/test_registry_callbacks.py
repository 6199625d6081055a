"""`POST /registry/callbacks`: the outcome lands in `registry_requests`, a final outcome
is never undone, and a delivery is taken once (a replay is a 409 that signals nothing)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from temporalio.api.enums.v1 import EventType
from temporalio.service import RPCError, RPCStatusCode

from api.routes import registry
from kernel.case_client import case_handle
from kernel.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from models.enums import RegistryOutcome
from models.registry import apply_registry_outcome
from models.tables import AuditEvent, RegistryCallbackReceipt, RegistryRequest, utcnow
from tests.utils.api_unit import HMAC_SECRET, assert_error

pytestmark = [pytest.mark.timeout(120)]
URL = "/api/v1/registry/callbacks"


@pytest.fixture
async def request_key(sessions, case_id) -> str:
    """A PENDING deregistration request of the case, as the submit activity leaves it."""
    key = f"{case_id}-dereg-1"
    async with sessions() as session:
        session.add(
            RegistryRequest(
                idempotency_key=key,
                case_id=case_id,
                status="PENDING",
                registry_ref="R-FIRST",
                updated_at=utcnow() - timedelta(minutes=5),
            )
        )
        await session.commit()
    return key


def callback(key: str, status: str, **fields) -> bytes:
    payload = {"callback_id": f"cb-{uuid.uuid4().hex}", "idempotency_key": key, "status": status}
    return json.dumps({**payload, **fields}).encode()


async def deliver(api, body: bytes, **headers: str):
    ts = str(int(utcnow().timestamp()))
    signed = {TIMESTAMP_HEADER: ts, SIGNATURE_HEADER: sign(HMAC_SECRET, ts, body), **headers}
    return await api.post(URL, content=body, headers=signed)


async def stored(sessions, key: str) -> RegistryRequest:
    async with sessions() as session:
        return await session.get(RegistryRequest, key)


async def signals(time_env, case_id: str) -> int:
    """How many registry results the case's workflow has been sent."""
    history = await time_env.client.get_workflow_handle(case_id).fetch_history()
    return sum(
        1
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
        and event.workflow_execution_signaled_event_attributes.signal_name == "registry_result"
    )


async def callback_events(sessions, case_id: str) -> int:
    async with sessions() as session:
        query = select(func.count()).where(
            AuditEvent.stream == case_id, AuditEvent.event == "registry.callback"
        )
        return (await session.exec(query)).scalar_one()


# --- the outcome is stored ------------------------------------------------------------


async def test_callback_outcome_is_stored_on_the_request(api, sessions, time_env, request_key):
    before = await stored(sessions, request_key)
    body = callback(request_key, "REJECTED", registry_ref="R-2", reason="mortgage not found")
    response = await deliver(api, body)
    assert response.status_code == 202, response.text
    row = await stored(sessions, request_key)
    assert (row.status, row.registry_ref, row.reason) == ("REJECTED", "R-2", "mortgage not found")
    assert row.updated_at > before.updated_at
    assert await signals(time_env, row.case_id) == 1


async def test_callback_without_a_ref_keeps_the_known_one(api, sessions, request_key):
    assert (await deliver(api, callback(request_key, "COMPLETED"))).status_code == 202
    row = await stored(sessions, request_key)
    assert (row.status, row.registry_ref) == ("COMPLETED", "R-FIRST")


async def test_stale_pending_after_the_final_answer_changes_and_signals_nothing(
    api, sessions, time_env, request_key, case_id
):
    final = await deliver(api, callback(request_key, "COMPLETED", registry_ref="R-9"))
    assert final.status_code == 202, final.text
    settled = await stored(sessions, request_key)
    late = await deliver(api, callback(request_key, "PENDING", reason="still checking"))
    assert late.status_code == 202, late.text
    row = await stored(sessions, request_key)
    assert (row.status, row.reason, row.updated_at) == ("COMPLETED", None, settled.updated_at)
    assert await signals(time_env, case_id) == 1
    assert await callback_events(sessions, case_id) == 1


async def test_a_contradicting_final_answer_does_not_undo_the_first(
    api, sessions, time_env, request_key, case_id
):
    assert (await deliver(api, callback(request_key, "COMPLETED"))).status_code == 202
    assert (await deliver(api, callback(request_key, "REJECTED"))).status_code == 202
    assert (await stored(sessions, request_key)).status == "COMPLETED"
    assert await signals(time_env, case_id) == 1


async def test_pending_on_a_pending_request_is_news(api, sessions, time_env, request_key, case_id):
    response = await deliver(api, callback(request_key, "PENDING", registry_ref="R-3"))
    assert response.status_code == 202, response.text
    row = await stored(sessions, request_key)
    assert (row.status, row.registry_ref) == ("PENDING", "R-3")
    assert await signals(time_env, case_id) == 1


# --- replays ----------------------------------------------------------------------------


async def test_replayed_callback_id_is_409_and_signals_once(
    api, sessions, time_env, request_key, case_id
):
    body = callback(request_key, "COMPLETED", registry_ref="R-4")
    assert (await deliver(api, body)).status_code == 202
    # Re-signed with a fresh timestamp and re-serialised: the same callback all the same.
    again = json.dumps(json.loads(body), indent=2).encode()
    replay = await deliver(api, again)
    assert "already taken" in assert_error(replay, 409, "callback_replayed")
    assert await signals(time_env, case_id) == 1
    assert await callback_events(sessions, case_id) == 1


async def test_callback_without_an_id_is_known_by_its_body(api, time_env, request_key, case_id):
    body = json.dumps({"idempotency_key": request_key, "status": "COMPLETED"}).encode()
    assert (await deliver(api, body)).status_code == 202
    assert_error(await deliver(api, body), 409, "callback_replayed")
    assert await signals(time_env, case_id) == 1


async def test_replay_of_a_stale_callback_is_refused_too(api, request_key):
    assert (await deliver(api, callback(request_key, "COMPLETED"))).status_code == 202
    stale = callback(request_key, "PENDING")
    assert (await deliver(api, stale)).status_code == 202
    assert_error(await deliver(api, stale), 409, "callback_replayed")


async def test_two_deliveries_at_once_are_taken_once(api, time_env, request_key, case_id):
    body = callback(request_key, "COMPLETED")
    answers = await asyncio.gather(deliver(api, body), deliver(api, body))
    assert sorted(r.status_code for r in answers) == [202, 409]
    assert await signals(time_env, case_id) == 1


async def test_a_delivery_that_could_not_signal_is_taken_on_retry(
    api, sessions, time_env, request_key, case_id, monkeypatch
):
    """A 503 tells the registry to retry; that retry must not be refused as a replay."""

    class EngineDown:
        async def signal(self, *_args, **_kwargs):
            raise RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b"")

    monkeypatch.setattr(registry, "case_handle", lambda _client, _case_id: EngineDown())
    body = callback(request_key, "COMPLETED")
    assert_error(await deliver(api, body), 503, "temporal_unavailable")
    monkeypatch.setattr(registry, "case_handle", case_handle)
    retry = await deliver(api, body)
    assert retry.status_code == 202, retry.text
    assert await signals(time_env, case_id) == 1
    async with sessions() as session:
        receipts = await session.exec(
            select(func.count()).where(RegistryCallbackReceipt.idempotency_key == request_key)
        )
        assert receipts.scalar_one() == 1


# --- what is read before the signature is checked ----------------------------------------


async def test_oversized_callback_is_413_whatever_it_claims_to_be(api):
    big = b'{"idempotency_key":"' + b"k" * 100_000 + b'","status":"COMPLETED"}'
    for content_type in ("application/json", "text/csv"):
        response = await deliver(api, big, **{"Content-Type": content_type})
        assert_error(response, 413, "body_too_large")


async def test_overlong_callback_id_is_422(api, request_key):
    response = await deliver(api, callback(request_key, "COMPLETED", callback_id="c" * 129))
    assert "callback_id" in assert_error(response, 422, "validation_error")


# --- the rule itself, as the polling activity will call it ------------------------------


@pytest.mark.parametrize(
    ("start", "outcome", "taken", "after"),
    [
        ("PENDING", "PENDING", True, "PENDING"),
        ("PENDING", "COMPLETED", True, "COMPLETED"),
        ("PENDING", "REJECTED", True, "REJECTED"),
        ("COMPLETED", "COMPLETED", True, "COMPLETED"),
        ("COMPLETED", "PENDING", False, "COMPLETED"),
        ("REJECTED", "PENDING", False, "REJECTED"),
        ("COMPLETED", "REJECTED", False, "COMPLETED"),
    ],
)
async def test_apply_registry_outcome(sessions, case_id, start, outcome, taken, after):
    key = f"{case_id}-dereg-9"
    async with sessions() as session:
        session.add(RegistryRequest(idempotency_key=key, case_id=case_id, status=start))
        await session.commit()
    async with sessions() as session, session.begin():
        result = await apply_registry_outcome(
            session, key, RegistryOutcome(outcome), "R-X", "why", count_attempt=True
        )
    row = await stored(sessions, key)
    assert (result, row.status, row.attempts) == (taken, after, 1 if taken else 0)


async def test_apply_registry_outcome_for_an_unknown_key_is_false(sessions):
    async with sessions() as session, session.begin():
        assert not await apply_registry_outcome(
            session, "no-such-key", RegistryOutcome.COMPLETED, None, None
        )
