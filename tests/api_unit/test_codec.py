"""The codec endpoint the Temporal UI and CLI decode payloads with: auditors and
admins only, every decode audited (how many, never what), CORS for the UI only."""

from __future__ import annotations

import json

import pytest
from google.protobuf import json_format
from sqlalchemy import select
from temporalio.api.common.v1 import Payload, Payloads

from kernel.codec import EncryptionCodec, PayloadKeys, new_key_entry
from models.audit import SYSTEM_STREAM
from models.tables import AuditEvent
from tests.utils.api_unit import RUN, assert_error, auth
from tests.utils.inprocess import FakeTemporal, id_number, in_process_api

KEYS = PayloadKeys.parse(new_key_entry("codec-test"))
UI_ORIGIN = "http://localhost:8233"


@pytest.fixture(scope="module")
async def codec_api(database_url, tmp_path_factory):
    async with in_process_api(
        database_url,
        tmp_path_factory.mktemp("codec"),
        FakeTemporal(),
        payload_keys=KEYS.serialise(),
        temporal_ui_port=8233,
    ) as (client, _):
        yield client


def plain(value: dict) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(value).encode())


def as_json(*payloads: Payload) -> dict:
    return json_format.MessageToDict(Payloads(payloads=payloads))


def from_json(body: dict) -> list[Payload]:
    return list(json_format.ParseDict(body, Payloads()).payloads)


async def decoded_events(sessions) -> list[AuditEvent]:
    async with sessions() as session:
        rows = await session.exec(
            select(AuditEvent).where(
                AuditEvent.stream == SYSTEM_STREAM, AuditEvent.event == "payloads.decoded"
            )
        )
        return [e for e in rows.scalars() if e.actor.endswith(RUN)]


async def test_an_auditor_decodes_what_the_workers_encrypted_and_it_is_audited(
    codec_api, tokens, sessions
):
    borrower = {"id_number": id_number(), "phone": "13812345678"}
    sealed = await EncryptionCodec(KEYS).encode([plain(borrower), plain({"step": "review"})])
    response = await codec_api.post(
        "/api/v1/codec/decode",
        json=as_json(*sealed),
        headers={**auth(tokens, "carol"), "X-Namespace": "default"},
    )
    assert response.status_code == 200, response.text
    opened = from_json(response.json())
    assert [json.loads(p.data) for p in opened] == [borrower, {"step": "review"}]
    (event,) = await decoded_events(sessions)
    assert event.actor == f"ucarol-{RUN}"
    assert event.details == {"count": 2, "role": "auditor", "namespace": "default"}
    assert id_number() not in json.dumps(event.details)


async def test_encode_seals_with_the_newest_key(codec_api, tokens):
    response = await codec_api.post(
        "/api/v1/codec/encode", json=as_json(plain({"a": 1})), headers=auth(tokens, "carol")
    )
    assert response.status_code == 200, response.text
    (sealed,) = from_json(response.json())
    assert sealed.metadata["encryption-key-id"] == b"codec-test"
    (opened,) = await EncryptionCodec(KEYS).decode([sealed])
    assert json.loads(opened.data) == {"a": 1}


@pytest.mark.parametrize("who", ["alice", "bob"])
async def test_operators_and_seniors_may_not_decode(codec_api, tokens, who):
    sealed = await EncryptionCodec(KEYS).encode([plain({"a": 1})])
    for operation in ("decode", "encode"):
        response = await codec_api.post(
            f"/api/v1/codec/{operation}", json=as_json(*sealed), headers=auth(tokens, who)
        )
        assert "may not decode or encode Temporal payloads" in assert_error(
            response, 403, "forbidden"
        )


async def test_a_payload_under_an_unknown_key_or_bad_base64_is_422(codec_api, tokens):
    other = PayloadKeys.parse(new_key_entry("elsewhere"))
    sealed = await EncryptionCodec(other).encode([plain({"a": 1})])
    unknown = await codec_api.post(
        "/api/v1/codec/decode", json=as_json(*sealed), headers=auth(tokens, "carol")
    )
    assert "elsewhere" in assert_error(unknown, 422, "undecodable_payload")
    garbled = await codec_api.post(
        "/api/v1/codec/decode",
        json={"payloads": [{"metadata": {"encoding": "not base64!"}, "data": ""}]},
        headers=auth(tokens, "carol"),
    )
    assert_error(garbled, 422, "invalid_payloads")


async def test_without_keys_the_codec_says_so(database_url, tmp_path, tokens):
    async with in_process_api(database_url, tmp_path, FakeTemporal()) as (client, _):
        response = await client.post(
            "/api/v1/codec/decode", json={"payloads": []}, headers=auth(tokens, "carol")
        )
    assert "no payload keys" in assert_error(response, 503, "codec_unavailable")


async def test_cors_opens_the_codec_to_the_temporal_ui_and_nothing_else(codec_api):
    preflight = {"Origin": UI_ORIGIN, "Access-Control-Request-Method": "POST"}
    allowed = await codec_api.options("/api/v1/codec/decode", headers=preflight)
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == UI_ORIGIN
    elsewhere = await codec_api.options(
        "/api/v1/codec/decode", headers={**preflight, "Origin": "https://evil.example"}
    )
    assert "access-control-allow-origin" not in elsewhere.headers
    other_route = await codec_api.options("/api/v1/cases", headers=preflight)
    assert "access-control-allow-origin" not in other_route.headers
