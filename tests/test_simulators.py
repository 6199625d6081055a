"""The simulators, run as real processes, driven through the product's adapters."""

from __future__ import annotations

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
from kernel.procs import free_port
from simulators import signing
from tests.utils.processes import running_process
from tests.utils.simulators import (
    HTTP_READY,
    MAIL_READY,
    CallbackReceiver,
    eventually,
    random_vin,
    sim_cmd,
    sim_config,
    sim_get,
)

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
        assert json.loads(body) == {
            "idempotency_key": key,
            "registry_ref": submitted.registry_ref,
            "status": "COMPLETED",
            "reason": None,
        }

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
