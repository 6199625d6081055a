"""Payload encryption: what Temporal stores of a case holds no personal data,
keys rotate without losing old payloads, and an auditor with the keys reads all."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload

from kernel.codec import (
    ENCODING,
    CodecError,
    EncryptionCodec,
    PayloadKeys,
    decrypt_json,
    ensure_keys_file,
    new_key_entry,
)
from kernel.settings import Settings
from models.history_events import decode_payload, parse_history
from tests.conftest import TEST_KEYS
from tests.utils.factories import insert_loan, new_facts, open_case, phone_for

HISTORIES = Path(__file__).resolve().parent / "histories"
ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])\d{17}[0-9Xx](?![0-9A-Za-z])")
MOBILE = re.compile(r"(?<![0-9])1[3-9]\d{9}(?![0-9])")


def payload_text(history: dict) -> str:
    """Every payload of a history as someone without the keys decodes it."""
    found = []

    def walk(node):
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            if isinstance(node.get("metadata"), dict) and "data" in node:
                found.append(json.dumps(decode_payload(node), ensure_ascii=False))
            for item in node.values():
                walk(item)

    walk(history)
    return "\n".join(found)


def plain(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=text.encode())


async def test_a_payload_round_trips_and_is_unreadable_on_the_way():
    codec = EncryptionCodec(PayloadKeys.parse(new_key_entry("k1")))
    original = plain('{"id_number": "11010519491231002X"}')
    [sealed] = await codec.encode([original])
    assert sealed.metadata["encoding"] == ENCODING and sealed.metadata["encryption-key-id"] == b"k1"
    assert b"11010519491231002X" not in sealed.data
    assert await codec.decode([sealed]) == [original]


async def test_keys_rotate_and_old_payloads_stay_readable():
    old = new_key_entry("2026-11")
    [sealed_with_old] = await EncryptionCodec(PayloadKeys.parse(old)).encode([plain('"x"')])
    rotated = PayloadKeys.parse(f"{new_key_entry('2026-12')},{old}")
    codec = EncryptionCodec(rotated)
    [sealed_now] = await codec.encode([plain('"y"')])
    assert sealed_now.metadata["encryption-key-id"] == b"2026-12"  # the newest encrypts
    assert await codec.decode([sealed_with_old, sealed_now]) == [plain('"x"'), plain('"y"')]


async def test_a_tampered_payload_or_an_unknown_key_is_refused_not_misread():
    codec = EncryptionCodec(PayloadKeys.parse(new_key_entry("k1")))
    [sealed] = await codec.encode([plain('"secret"')])
    tampered = Payload(metadata=dict(sealed.metadata), data=sealed.data[:-1] + b"\x00")
    with pytest.raises(CodecError, match="integrity"):
        await codec.decode([tampered])
    stranger = EncryptionCodec(PayloadKeys.parse(new_key_entry("k2")))
    with pytest.raises(CodecError, match="unknown key 'k1'"):
        await stranger.decode([sealed])


async def test_payloads_written_before_encryption_pass_through():
    codec = EncryptionCodec(TEST_KEYS)
    old = plain('{"case_id": "RC-1"}')
    assert await codec.decode([old]) == [old]


def test_bad_keys_are_refused_with_the_reason():
    with pytest.raises(CodecError, match="32 bytes"):
        PayloadKeys.parse("short:AAAA")
    with pytest.raises(CodecError, match="not id:base64key"):
        PayloadKeys.parse("no-separator")
    with pytest.raises(CodecError, match="no payload keys"):
        PayloadKeys.parse("# nothing but a comment")


def test_settings_find_keys_in_the_environment_a_file_or_the_data_dir(tmp_path):
    assert Settings(data_dir=tmp_path).payload_keyring() is None
    ensure_keys_file(tmp_path)
    assert (tmp_path / "payload-keys").stat().st_mode & 0o777 == 0o600
    from_dir = Settings(data_dir=tmp_path).payload_keyring()
    assert from_dir is not None and len(from_dir.keys) == 1
    entry = new_key_entry("env")
    assert Settings(data_dir=tmp_path, payload_keys=entry).payload_keyring().active[0] == "env"
    with pytest.raises(ValueError, match="JIEYA_PAYLOAD_KEYS"):
        Settings(
            env="prod",
            database_url="postgresql://x/y",
            temporal_address="t:7233",
            registry_url="http://r",
            sms_url="http://s",
            registry_hmac_secret="not-the-dev-one",
        )


@pytest.mark.parametrize(
    "path",
    [p for p in sorted(HISTORIES.glob("*.json")) if "before_" not in p.name],
    ids=lambda p: p.stem,
)
def test_recorded_histories_hold_no_id_or_phone_number_yet_an_auditor_reads_them(path):
    history = json.loads(path.read_text())
    seen = payload_text(history)
    assert not ID_NUMBER.search(seen) and not MOBILE.search(seen)
    assert parse_history(history).input == "<binary/encrypted payload>"
    readable = decrypt_json(history, TEST_KEYS)
    started = parse_history(readable).input
    # The same check finds what the keys reveal (so it is not blind to base64).
    assert started["loan_contract_no"] in payload_text(readable)
    assert started["loan_contract_no"] not in seen


async def test_a_live_cases_history_in_temporal_holds_no_personal_data(case_worker):
    facts = new_facts(seed=601)
    await insert_loan(case_worker.sessions, facts)
    handle = await open_case(case_worker.sessions, case_worker.client, facts)
    history = await handle.fetch_history()
    seen = payload_text(history.to_json_dict())
    for secret in (facts.id_number, phone_for(facts), facts.name, facts.contract_no):
        assert secret not in seen
    readable = decrypt_json(history.to_json_dict(), TEST_KEYS)
    assert facts.contract_no in payload_text(readable)  # there, for whoever holds the keys
    await handle.terminate("test over")


def test_keys_new_prints_a_usable_entry_and_refuses_a_bad_id() -> None:
    from typer.testing import CliRunner

    from workers.cli import app

    runner = CliRunner()
    made = runner.invoke(app, ["keys", "new", "--id", "2026q4"])
    assert made.exit_code == 0
    keys = PayloadKeys.parse(made.stdout.strip())
    assert keys.active[0] == "2026q4"
    refused = runner.invoke(app, ["keys", "new", "--id", "a:b"])
    assert refused.exit_code == 2
    assert "must be plain ASCII" in refused.output
