"""The simulators, run as real processes, driven through the product's adapters."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from activities.adapters.email import SmtpMailer
from activities.adapters.errors import PermanentExternalError, TransientExternalError
from activities.adapters.registry import DeregistrationRequest, RegistryClient
from activities.adapters.sms import SmsGateway
from simulators import signing
from tests.utils.processes import running_process, stop_process
from tests.utils.simulators import (
    HTTP_READY,
    MAIL_READY,
    CallbackReceiver,
    eventually,
    random_vin,
    sim_cmd,
    sim_config,
    sim_faults,
    sim_get,
)
from workers.dev.procs import free_port

SECRET = "test-registry-secret"


@pytest.fixture(scope="module")
def registry_url() -> Iterator[str]:
    cmd = sim_cmd("registry", "--port", "0", "--hmac-secret", SECRET, "--complete-after", "0.5")
    with running_process(cmd, HTTP_READY) as (_, ready):
        yield ready.group(1)


@pytest.fixture(scope="module")
def sms_url() -> Iterator[str]:
    with running_process(sim_cmd("sms", "--port", "0"), HTTP_READY) as (_, ready):
        yield ready.group(1)


@pytest.fixture(scope="module")
def mail_sim() -> Iterator[dict[str, Any]]:
    with running_process(sim_cmd("mail"), MAIL_READY) as (_, ready):
        yield {"host": ready.group(1), "port": int(ready.group(2)), "http": ready.group(3)}


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0, trust_env=False) as client:
        yield client


def new_key() -> str:
    return f"test-{uuid.uuid4()}"


def new_request(**overrides: Any) -> DeregistrationRequest:
    fields = {
        "case_ref": f"CASE-{uuid.uuid4().hex[:8]}",
        "contract_no": "HT2024000123",
        "plate_no": "沪A12345",
        "vin": random_vin(),
        "lender": "华夏汽车金融有限公司",
    }
    return DeregistrationRequest(**{**fields, **overrides})


async def test_every_simulator_reports_healthy(
    http: httpx.AsyncClient, registry_url: str, sms_url: str, mail_sim: dict[str, Any]
) -> None:
    for base in (registry_url, sms_url, mail_sim["http"]):
        assert await sim_get(http, base, "/healthz") == {"ok": True}


async def test_same_key_twice_deregisters_once(http: httpx.AsyncClient, registry_url: str) -> None:
    registry = RegistryClient(http, registry_url)
    key, request = new_key(), new_request()

    first = await registry.submit(key, request)
    again = await registry.submit(key, request)

    assert first.status == "PENDING" and first.registry_ref
    assert again.registry_ref == first.registry_ref
    log = await sim_get(http, registry_url, "/_sim/log")
    assert [e["duplicate"] for e in log if e["idempotency_key"] == key] == [False, True]
    records = await sim_get(http, registry_url, "/_sim/deregistrations")
    refs = [r["registry_ref"] for r in records if r["idempotency_key"] == key]
    assert refs == [first.registry_ref]


async def test_reused_key_with_other_body_is_permanent(
    http: httpx.AsyncClient, registry_url: str
) -> None:
    registry = RegistryClient(http, registry_url)
    key = new_key()
    await registry.submit(key, new_request())

    with pytest.raises(PermanentExternalError) as refused:
        await registry.submit(key, new_request())

    assert refused.value.status_code == 409
    assert refused.value.code == "idempotency_key_reused"


async def test_deregistration_completes_after_delay(
    http: httpx.AsyncClient, registry_url: str
) -> None:
    registry = RegistryClient(http, registry_url)
    key = new_key()
    await registry.submit(key, new_request())

    assert (await registry.status(key)).status == "PENDING"

    async def completed() -> bool:
        return (await registry.status(key)).status == "COMPLETED"

    await eventually(completed, within_s=10)
    raw = await sim_get(http, registry_url, f"/api/v1/deregistrations/{key}")
    assert raw["completed_at"] and raw["reason"] is None


async def test_listed_vin_is_rejected_with_reason(
    http: httpx.AsyncClient, registry_url: str
) -> None:
    registry = RegistryClient(http, registry_url)
    request = new_request()
    await sim_config(http, registry_url, reject_vins=[request.vin])
    try:
        key = new_key()
        await registry.submit(key, request)

        async def decided() -> Any:
            status = await registry.status(key)
            return status if status.status != "PENDING" else None

        outcome = await eventually(decided, within_s=10)
    finally:
        await sim_config(http, registry_url, reject_vins=[])
    assert outcome.status == "REJECTED"
    assert outcome.reason


async def test_refused_requests_are_permanent(http: httpx.AsyncClient, registry_url: str) -> None:
    registry = RegistryClient(http, registry_url)
    with pytest.raises(PermanentExternalError) as invalid:
        await registry.submit(new_key(), new_request(vin="NOT-A-VIN"))
    assert (invalid.value.status_code, invalid.value.code) == (422, "validation_error")
    with pytest.raises(PermanentExternalError) as missing:
        await registry.status(new_key())
    assert missing.value.status_code == 404

    no_key = await http.post(
        f"{registry_url}/api/v1/deregistrations", json=new_request().model_dump()
    )
    assert no_key.status_code == 400
    assert no_key.json()["error"]["code"] == "missing_idempotency_key"


async def test_fail_next_is_transient_then_recovers(
    http: httpx.AsyncClient, registry_url: str
) -> None:
    registry = RegistryClient(http, registry_url)
    key, request = new_key(), new_request()
    await sim_config(http, registry_url, fail_next=1)

    with pytest.raises(TransientExternalError) as outage:
        await registry.submit(key, request)
    accepted = await registry.submit(key, request)

    assert outage.value.status_code == 503
    assert accepted.status == "PENDING"
    assert (await sim_get(http, registry_url, "/_sim/config"))["fail_next"] == 0


async def test_unreachable_services_are_transient(http: httpx.AsyncClient) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(TransientExternalError):
        await RegistryClient(http, closed).status(new_key())
    with pytest.raises(TransientExternalError):
        await SmsGateway(http, closed).send("13800138000", "hi", new_key())
    with pytest.raises(TransientExternalError):
        await SmtpMailer("127.0.0.1", free_port(), "noreply@jieya.local").send(
            "a@example.com", "s", "b", f"{uuid.uuid4()}@jieya.local"
        )


async def test_outcome_is_posted_signed_and_retried(
    http: httpx.AsyncClient, registry_url: str
) -> None:
    key = new_key()
    with CallbackReceiver.running(fail_first=1) as receiver:
        request = new_request(callback_url=receiver.url)
        submitted = await RegistryClient(http, registry_url).submit(key, request)
        attempts = [await receiver.next(), await receiver.next()]

    for headers, body in attempts:
        timestamp = headers[signing.TIMESTAMP_HEADER]
        signature = headers[signing.SIGNATURE_HEADER]
        assert signing.verify(SECRET, timestamp, body, signature)
        assert not signing.verify("wrong-secret", timestamp, body, signature)
        callback = json.loads(body)
        assert callback == {
            "callback_id": callback["callback_id"],
            "idempotency_key": key,
            "registry_ref": submitted.registry_ref,
            "status": "COMPLETED",
            "reason": None,
        }
    # A retry re-sends the same delivery event, so it keeps its id.
    ids = {json.loads(body)["callback_id"] for _, body in attempts}
    assert len(ids) == 1 and ids.pop().startswith("cb-")

    async def delivered() -> Any:
        records = await sim_get(http, registry_url, "/_sim/deregistrations")
        record = next(r for r in records if r["idempotency_key"] == key)
        return record if record["callback_delivered"] else None

    record = await eventually(delivered, within_s=10)
    assert [a["status_code"] for a in record["callback_attempts"]] == [500, 204]


def test_signature_rejects_tampering_and_stale_timestamps() -> None:
    body = b'{"status":"COMPLETED"}'
    now = int(time.time())
    good = signing.sign(SECRET, now, body)
    assert good.startswith("sha256=") and signing.verify(SECRET, now, body, good)
    assert not signing.verify(SECRET, now, body + b" ", good)
    assert not signing.verify(SECRET, now + 1, body, good)
    stale = signing.sign(SECRET, now - 301, body)
    assert not signing.verify(SECRET, now - 301, body, stale)
    assert not signing.verify(SECRET, None, body, good)
    assert not signing.verify(SECRET, now, body, "sha256=签名")


async def test_registry_keeps_records_across_restart(http: httpx.AsyncClient, tmp_path) -> None:
    state_file = tmp_path / "registry-state.json"
    cmd = sim_cmd("registry", "--port", "0", "--state-file", str(state_file))
    key, request = new_key(), new_request()
    with running_process(cmd, HTTP_READY) as (_, ready):
        first = await RegistryClient(http, ready.group(1)).submit(key, request)
    with running_process(cmd, HTTP_READY) as (_, ready):
        registry = RegistryClient(http, ready.group(1))
        again = await registry.submit(key, request)
        status = await registry.status(key)
    assert again.registry_ref == status.registry_ref == first.registry_ref
    assert json.loads(state_file.read_text(encoding="utf-8"))["records"][key]


async def test_sms_is_sent_once_per_key(http: httpx.AsyncClient, sms_url: str) -> None:
    sms = SmsGateway(http, sms_url)
    key = new_key()

    first = await sms.send("13800138000", "您的车辆抵押已解除。", key)
    retry = await sms.send("13800138000", "您的车辆抵押已解除。", key)
    other = await sms.send("13800138000", "您的车辆抵押已解除。", new_key())

    assert retry == first and other != first
    logged = [m for m in await sim_get(http, sms_url, "/_sim/log") if m["idempotency_key"] == key]
    assert len(logged) == 1
    assert logged[0]["message_id"] == first and logged[0]["to"] == "13800138000"


async def test_sms_failures_are_classified(http: httpx.AsyncClient, sms_url: str) -> None:
    sms = SmsGateway(http, sms_url)
    await sim_config(http, sms_url, fail_next=1)
    with pytest.raises(TransientExternalError):
        await sms.send("13800138000", "hello", new_key())
    with pytest.raises(PermanentExternalError) as invalid:
        await sms.send("12345", "hello", new_key())
    assert invalid.value.status_code == 422


async def test_mail_is_received_once_per_message_id(
    http: httpx.AsyncClient, mail_sim: dict[str, Any]
) -> None:
    mailer = SmtpMailer(mail_sim["host"], mail_sim["port"], "noreply@jieya.local")
    message_id = f"case-{uuid.uuid4()}@jieya.local"

    await mailer.send("zhangsan@example.com", "解押完成通知", "您的车辆抵押已注销。", message_id)
    await mailer.send("zhangsan@example.com", "解押完成通知", "您的车辆抵押已注销。", message_id)

    log = await sim_get(http, mail_sim["http"], "/_sim/log")
    received = [m for m in log if m["message_id"] == message_id]
    assert len(received) == 1
    assert received[0]["subject"] == "解押完成通知"
    assert received[0]["text"] == "您的车辆抵押已注销。"
    assert received[0]["to"] == ["zhangsan@example.com"]
    assert received[0]["from"] == "noreply@jieya.local"
    assert received[0]["duplicate_deliveries"] == 1


async def test_mail_outage_is_transient(http: httpx.AsyncClient, mail_sim: dict[str, Any]) -> None:
    mailer = SmtpMailer(mail_sim["host"], mail_sim["port"], "noreply@jieya.local")
    await sim_config(http, mail_sim["http"], fail_next=1)
    with pytest.raises(TransientExternalError) as outage:
        await mailer.send("a@example.com", "s", "b", f"{uuid.uuid4()}@jieya.local")
    assert outage.value.code == "451"


# --- fault injection: shared knobs ---------------------------------------------------------


async def send_sms(http: httpx.AsyncClient, base: str, key: str) -> httpx.Response:
    """A raw SMS request, for tests that look at status codes and headers themselves."""
    return await http.post(
        f"{base}/api/v1/messages",
        json={"to": "13800138000", "text": "您的验证码是 123456"},
        headers={"Idempotency-Key": key},
    )


async def record_for(http: httpx.AsyncClient, registry_url: str, key: str) -> dict[str, Any]:
    records = await sim_get(http, registry_url, "/_sim/deregistrations")
    return next(r for r in records if r["idempotency_key"] == key)


async def test_bad_knobs_are_refused_and_change_nothing(
    http: httpx.AsyncClient, sms_url: str, registry_url: str, mail_sim: dict[str, Any]
) -> None:
    cases = [
        (sms_url, {"error_rate": 1.5}, "error_rate"),
        (sms_url, {"latency_ms": -1}, "latency_ms"),
        (sms_url, {"fail_keys": [""]}, "fail_keys"),
        (sms_url, {"hang_s": 0}, "hang_s"),
        (sms_url, {"error_rat": 0.1}, "error_rat"),
        # Checked against the values in force, and all or nothing: latency_ms stays 0 too.
        (sms_url, {"timeout_rate": 0.6, "latency_ms": 5}, "timeout_rate + error_rate"),
        (registry_url, {"reject_vins": ["NOT-A-VIN"]}, "reject_vins"),
        (registry_url, {"complete_after_s": None}, "complete_after_s"),
        (mail_sim["http"], {"smtp_refuse": "sometimes"}, "smtp_refuse"),
        (mail_sim["http"], {"error_rate": 0.1}, "error_rate"),  # not an SMTP knob
    ]
    async with sim_faults(http, sms_url, error_rate=0.5):
        before = await sim_get(http, sms_url, "/_sim/config")
        for base, body, field in cases:
            response = await http.post(f"{base}/_sim/config", json=body)
            assert response.status_code == 422, body
            error = response.json()["error"]
            assert error["code"] == "validation_error" and field in error["message"], error
        assert await sim_get(http, sms_url, "/_sim/config") == before


async def test_reset_restores_the_startup_knobs(http: httpx.AsyncClient, registry_url: str) -> None:
    try:
        defaults = await sim_config(http, registry_url, reset=True)
        changed = await sim_config(
            http, registry_url, error_rate=0.2, fail_keys=["x"], complete_after_s=3
        )
        kept = await sim_config(http, registry_url, latency_ms=5)
        reseeded = await sim_config(http, registry_url, reset=True, seed=9)
    finally:
        await sim_config(http, registry_url, reset=True)

    # The startup value from --complete-after, not the knob's built-in default.
    assert defaults["complete_after_s"] == 0.5
    assert defaults["injected"] == dict.fromkeys(
        ["delayed", "5xx", "4xx", "timeouts", "duplicates", "out_of_order", "pending_forever"], 0
    )
    assert (changed["error_rate"], changed["fail_keys"], changed["complete_after_s"]) == (
        0.2,
        ["x"],
        3,
    )
    assert kept["error_rate"] == 0.2 and kept["latency_ms"] == 5
    assert reseeded == {**defaults, "seed": 9}


async def test_keep_alive_answers_are_not_held_back(http: httpx.AsyncClient, sms_url: str) -> None:
    # With Nagle's algorithm left on, each answer on a reused connection waits ~40 ms for
    # a delayed ACK: a floor under every latency a benchmark would measure.
    await sim_get(http, sms_url, "/healthz")
    started = time.monotonic()
    for _ in range(20):
        await sim_get(http, sms_url, "/healthz")
    assert (time.monotonic() - started) / 20 < 0.02


async def test_latency_delays_the_api_but_not_the_sim_endpoints(
    http: httpx.AsyncClient, sms_url: str
) -> None:
    async with sim_faults(http, sms_url, latency_ms=400):
        started = time.monotonic()
        answer = await send_sms(http, sms_url, new_key())
        api_s = time.monotonic() - started
        started = time.monotonic()
        await sim_get(http, sms_url, "/healthz")
        await sim_get(http, sms_url, "/_sim/log")
        sim_s = time.monotonic() - started
        view = await sim_get(http, sms_url, "/_sim/config")

    assert answer.status_code == 202 and api_s >= 0.4
    assert sim_s < 0.4
    assert view["injected"]["delayed"] == 1


async def test_error_rate_is_repeatable_with_a_seed(http: httpx.AsyncClient, sms_url: str) -> None:
    async def run(seed: int) -> tuple[list[httpx.Response], dict[str, Any]]:
        async with sim_faults(http, sms_url, error_rate=0.5, seed=seed):
            answers = [await send_sms(http, sms_url, new_key()) for _ in range(24)]
            return answers, await sim_get(http, sms_url, "/_sim/config")

    first, view = await run(7)
    again, _ = await run(7)
    other, _ = await run(8)

    codes = [answer.status_code for answer in first]
    assert set(codes) == {202, 503}
    assert [answer.status_code for answer in again] == codes
    assert [answer.status_code for answer in other] != codes
    assert view["requests"] == 24 and view["injected"]["5xx"] == codes.count(503)
    outage = first[codes.index(503)]
    assert outage.headers["Retry-After"] == "0"
    assert outage.json()["error"]["code"] == "unavailable"


async def test_a_down_simulator_can_still_be_inspected_and_repaired(
    http: httpx.AsyncClient, registry_url: str
) -> None:
    registry = RegistryClient(http, registry_url)
    async with sim_faults(http, registry_url, error_rate=1.0, latency_ms=300):
        with pytest.raises(TransientExternalError) as outage:
            await registry.submit(new_key(), new_request())
        started = time.monotonic()
        for path in ("/healthz", "/_sim/log", "/_sim/deregistrations", "/_sim/config"):
            await sim_get(http, registry_url, path)
        sim_s = time.monotonic() - started
        await sim_config(http, registry_url, error_rate=0)
        recovered = await registry.submit(new_key(), new_request())

    assert outage.value.status_code == 503
    assert sim_s < 0.3
    assert recovered.status == "PENDING"


async def test_fail_keys_refuse_the_same_request_every_time(
    http: httpx.AsyncClient, registry_url: str
) -> None:
    registry = RegistryClient(http, registry_url)
    key, request = f"case-poison-{uuid.uuid4()}", new_request()
    refusals = []
    async with sim_faults(http, registry_url, fail_keys=["poison"]):
        for _ in range(3):
            with pytest.raises(PermanentExternalError) as refused:
                await registry.submit(key, request)
            refusals.append(refused.value)
        accepted = await registry.submit(new_key(), new_request())
        view = await sim_get(http, registry_url, "/_sim/config")
        records = await sim_get(http, registry_url, "/_sim/deregistrations")

    assert [(e.status_code, e.code) for e in refusals] == [(422, "refused")] * 3
    assert "retrying will not help" in str(refusals[0])
    assert accepted.status == "PENDING"
    assert view["injected"]["4xx"] == 3
    # Refused before it was registered: no record to poll later.
    assert key not in {r["idempotency_key"] for r in records}


async def test_refuse_rate_decides_once_per_key(http: httpx.AsyncClient, sms_url: str) -> None:
    keys = [new_key() for _ in range(30)]

    async def refused(seed: int) -> tuple[set[str], set[str]]:
        async with sim_faults(http, sms_url, refuse_rate=0.5, seed=seed):
            first = {k for k in keys if (await send_sms(http, sms_url, k)).status_code == 422}
            retried = {k for k in keys if (await send_sms(http, sms_url, k)).status_code == 422}
        return first, retried

    first, retried = await refused(7)
    other_seed, _ = await refused(8)

    assert 0 < len(first) < len(keys)
    assert retried == first
    assert other_seed != first


async def test_timeout_rate_hangs_past_the_client_timeout(
    http: httpx.AsyncClient, sms_url: str
) -> None:
    async with (
        sim_faults(http, sms_url, timeout_rate=1.0, hang_s=1.5),
        httpx.AsyncClient(timeout=0.5, trust_env=False) as impatient,
    ):
        with pytest.raises(TransientExternalError):
            await SmsGateway(impatient, sms_url).send("13800138000", "hi", new_key())
        started = time.monotonic()
        patient = asyncio.create_task(send_sms(http, sms_url, new_key()))

        async def second_hang_counted() -> dict[str, Any] | None:
            view = await sim_get(http, sms_url, "/_sim/config")
            return view if view["injected"]["timeouts"] == 2 else None

        # The simulator keeps answering its own endpoints while a request hangs.
        view = await eventually(second_hang_counted, within_s=1.0)
        late = await patient
        waited_s = time.monotonic() - started

    assert late.status_code == 503 and waited_s >= 1.5
    assert view["injected"]["5xx"] == 0


async def test_a_hung_request_does_not_stall_shutdown(http: httpx.AsyncClient) -> None:
    with running_process(sim_cmd("sms", "--port", "0"), HTTP_READY) as (proc, ready):
        base = ready.group(1)
        await sim_config(http, base, timeout_rate=1.0, hang_s=120)
        hung = asyncio.create_task(send_sms(http, base, new_key()))
        await asyncio.sleep(0.3)
        started = time.monotonic()
        code = stop_process(proc)
        stop_s = time.monotonic() - started
    hung.cancel()
    with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
        await hung

    assert code == 0 and stop_s < 5


# --- fault injection: registry callbacks and pending VINs ---------------------------------


async def test_duplicate_callbacks_repeat_the_same_delivery(
    http: httpx.AsyncClient, registry_url: str
) -> None:
    key = new_key()
    async with sim_faults(http, registry_url, duplicate_callbacks=1.0):
        with CallbackReceiver.running() as receiver:
            request = new_request(callback_url=receiver.url)
            await RegistryClient(http, registry_url).submit(key, request)
            deliveries = [await receiver.next(), await receiver.next()]
            more = await receiver.quiet_for(0.5)
        view = await sim_get(http, registry_url, "/_sim/config")

    first, second = (json.loads(body) for _, body in deliveries)
    assert first == second and first["status"] == "COMPLETED"
    for headers, body in deliveries:
        assert signing.verify(
            SECRET, headers[signing.TIMESTAMP_HEADER], body, headers[signing.SIGNATURE_HEADER]
        )
    assert more == []
    assert view["injected"]["duplicates"] == 1


async def test_out_of_order_callbacks_send_a_stale_pending_last(
    http: httpx.AsyncClient, registry_url: str
) -> None:
    key = new_key()
    async with sim_faults(http, registry_url, out_of_order_callbacks=1.0):
        with CallbackReceiver.running() as receiver:
            request = new_request(callback_url=receiver.url)
            await RegistryClient(http, registry_url).submit(key, request)
            final, stale = [json.loads((await receiver.next())[1]) for _ in range(2)]
        view = await sim_get(http, registry_url, "/_sim/config")

    assert final["status"] == "COMPLETED" and stale["status"] == "PENDING"
    assert stale["callback_id"] != final["callback_id"]
    assert (stale["idempotency_key"], stale["registry_ref"]) == (key, final["registry_ref"])
    assert stale["reason"] is None
    assert view["injected"]["out_of_order"] == 1


async def test_callback_faults_hit_a_share_of_deregistrations(
    http: httpx.AsyncClient, registry_url: str
) -> None:
    keys = [new_key() for _ in range(16)]
    async with sim_faults(http, registry_url, duplicate_callbacks=0.5, complete_after_s=0):
        with CallbackReceiver.running() as receiver:
            registry = RegistryClient(http, registry_url)
            for key in keys:
                await registry.submit(key, new_request(callback_url=receiver.url))

            async def all_delivered() -> list[dict[str, Any]] | None:
                records = [await record_for(http, registry_url, key) for key in keys]
                return records if all(r["callback_delivered"] for r in records) else None

            records = await eventually(all_delivered, within_s=10)
        view = await sim_get(http, registry_url, "/_sim/config")

    duplicated = [r for r in records if len(r["callbacks"]) == 2]
    assert 0 < len(duplicated) < len(keys)
    assert all(r["callbacks"][1]["kind"] == "duplicate" for r in duplicated)
    assert view["injected"]["duplicates"] == len(duplicated)


async def test_a_409_answer_counts_as_delivered(http: httpx.AsyncClient, registry_url: str) -> None:
    key = new_key()
    with CallbackReceiver.running(answers=[409]) as receiver:
        request = new_request(callback_url=receiver.url)
        await RegistryClient(http, registry_url).submit(key, request)
        await receiver.next()
        retries = await receiver.quiet_for(0.7)  # the first back-off is 0.2 s
    record = await record_for(http, registry_url, key)

    assert retries == []
    assert record["callback_delivered"]
    assert [a["status_code"] for a in record["callback_attempts"]] == [409]


async def test_pending_vins_stay_pending_for_ever(
    http: httpx.AsyncClient, registry_url: str
) -> None:
    registry = RegistryClient(http, registry_url)
    key, request = new_key(), new_request()
    with CallbackReceiver.running() as receiver:
        request = new_request(callback_url=receiver.url)
        async with sim_faults(
            http, registry_url, pending_vins=[f" {request.vin.lower()} "], complete_after_s=0
        ) as view:
            await registry.submit(key, request)
            callbacks = await receiver.quiet_for(1.0)
            counted = await sim_get(http, registry_url, "/_sim/config")
        # Snapshotted at submission, like reject_vins: clearing the knob changes nothing.
        status = await registry.status(key)

    assert view["pending_vins"] == [request.vin]
    assert callbacks == []
    assert status.status == "PENDING" and status.reason is None
    assert counted["injected"]["pending_forever"] == 1


async def test_knobs_reset_on_restart_but_records_stay(http: httpx.AsyncClient, tmp_path) -> None:
    cmd = sim_cmd("registry", "--port", "0", "--state-file", str(tmp_path / "registry.json"))
    key, request = new_key(), new_request()
    with running_process(cmd, HTTP_READY) as (_, ready):
        await sim_config(http, ready.group(1), latency_ms=20, pending_vins=[request.vin])
        await RegistryClient(http, ready.group(1)).submit(key, request)
    with running_process(cmd, HTTP_READY) as (_, ready):
        view = await sim_get(http, ready.group(1), "/_sim/config")
        status = await RegistryClient(http, ready.group(1)).status(key)

    assert view["latency_ms"] == 0 and view["pending_vins"] == []
    assert status.status == "PENDING"


async def test_callbacks_owed_in_an_older_state_file_get_an_id(
    http: httpx.AsyncClient, tmp_path
) -> None:
    state_file = tmp_path / "registry.json"
    key = new_key()
    with CallbackReceiver.running() as receiver:
        request = new_request(callback_url=receiver.url).model_dump(mode="json")
        # The record shape written before callback ids existed.
        old = {
            "idempotency_key": key,
            "registry_ref": "CGS20250101000001",
            "request": request,
            "submitted_at": time.time() - 5,
            "decide_at": time.time() - 4,
            "outcome": "COMPLETED",
            "reason": None,
            "callback_delivered": False,
            "callback_attempts": [],
        }
        state_file.write_text(json.dumps({"records": {key: old}}), encoding="utf-8")
        cmd = sim_cmd("registry", "--port", "0", "--state-file", str(state_file))
        with running_process(cmd, HTTP_READY) as (_, ready):
            _, body = await receiver.next()

            async def delivered() -> dict[str, Any] | None:
                record = await record_for(http, ready.group(1), key)
                return record if record["callback_delivered"] else None

            record = await eventually(delivered, within_s=10)

    callback = json.loads(body)
    assert callback["callback_id"] == record["callbacks"][0]["callback_id"]
    assert (callback["idempotency_key"], callback["status"]) == (key, "COMPLETED")


# --- fault injection: the mail sink ---------------------------------------------------------


def mailer_for(mail_sim: dict[str, Any], timeout_s: float = 10.0) -> SmtpMailer:
    return SmtpMailer(mail_sim["host"], mail_sim["port"], "noreply@jieya.local", timeout_s)


def new_message_id() -> str:
    return f"{uuid.uuid4()}@jieya.local"


async def logged_message_ids(http: httpx.AsyncClient, mail_sim: dict[str, Any]) -> set[str]:
    return {m["message_id"] for m in await sim_get(http, mail_sim["http"], "/_sim/log")}


async def test_smtp_refuse_permanent_on_data(
    http: httpx.AsyncClient, mail_sim: dict[str, Any]
) -> None:
    message_id = new_message_id()
    async with sim_faults(http, mail_sim["http"], smtp_refuse="permanent") as view:
        with pytest.raises(PermanentExternalError) as refused:
            await mailer_for(mail_sim).send("a@example.com", "s", "b", message_id)
        counted = await sim_get(http, mail_sim["http"], "/_sim/config")

    assert view["smtp_refuse_rate"] == 1.0 and view["smtp_refuse_at"] == "data"
    assert refused.value.code == "550"
    assert counted["injected"]["permanent"] == 1 and counted["requests"] == 1
    assert message_id not in await logged_message_ids(http, mail_sim)


async def test_smtp_refuse_temporary_on_rcpt_then_recovers(
    http: httpx.AsyncClient, mail_sim: dict[str, Any]
) -> None:
    mailer, message_id = mailer_for(mail_sim), new_message_id()
    async with sim_faults(http, mail_sim["http"], smtp_refuse="temporary", smtp_refuse_at="rcpt"):
        with pytest.raises(TransientExternalError) as refused:
            await mailer.send("a@example.com", "s", "b", message_id)
        counted = await sim_get(http, mail_sim["http"], "/_sim/config")
    await mailer.send("a@example.com", "s", "b", message_id)

    assert refused.value.code == "451"
    # Refused at RCPT, so the message never reached DATA.
    assert counted["injected"]["temporary"] == 1 and counted["requests"] == 0
    assert message_id in await logged_message_ids(http, mail_sim)


async def test_smtp_refuse_rate_is_repeatable_with_a_seed(
    http: httpx.AsyncClient, mail_sim: dict[str, Any]
) -> None:
    mailer = mailer_for(mail_sim)

    async def run(seed: int) -> list[str]:
        outcomes = []
        knobs = {"smtp_refuse": "temporary", "smtp_refuse_rate": 0.5, "seed": seed}
        async with sim_faults(http, mail_sim["http"], **knobs):
            for _ in range(12):
                try:
                    await mailer.send("a@example.com", "s", "b", new_message_id())
                    outcomes.append("sent")
                except TransientExternalError:
                    outcomes.append("refused")
        return outcomes

    first = await run(3)
    assert set(first) == {"sent", "refused"}
    assert await run(3) == first


async def test_smtp_latency_and_timeouts_act_on_data(
    http: httpx.AsyncClient, mail_sim: dict[str, Any]
) -> None:
    async with sim_faults(http, mail_sim["http"], latency_ms=400):
        started = time.monotonic()
        await mailer_for(mail_sim).send("a@example.com", "s", "b", new_message_id())
        slow_s = time.monotonic() - started
        delayed = (await sim_get(http, mail_sim["http"], "/_sim/config"))["injected"]["delayed"]
    hung_id = new_message_id()
    async with sim_faults(http, mail_sim["http"], timeout_rate=1.0, hang_s=2):
        with pytest.raises(TransientExternalError):
            await mailer_for(mail_sim, timeout_s=0.5).send("a@example.com", "s", "b", hung_id)
        timeouts = (await sim_get(http, mail_sim["http"], "/_sim/config"))["injected"]["timeouts"]

    assert slow_s >= 0.4 and delayed == 1
    assert timeouts == 1
    assert hung_id not in await logged_message_ids(http, mail_sim)
