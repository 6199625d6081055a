"""Payload encryption for everything jieya puts in Temporal: workflow inputs,
activity arguments and results, signals, updates, queries. ID and phone numbers
travel in those payloads; with this codec Temporal's history, the history
archive and the recorded test histories hold only ciphertext.

AES-256-GCM, a fresh 96-bit nonce per payload, the key id in the payload's
metadata (so a key can be rotated: encrypt with the newest, decrypt with any
listed), the key id as associated data (a payload cannot be passed off as
another key's). Payloads without our encoding pass through untouched, so
histories written before encryption still decode and replay.

Keys: `JIEYA_PAYLOAD_KEYS` = `id:base64key[,id:base64key…]`, newest first, or a
file of such lines (`jieya dev` writes one into its data dir)."""

from __future__ import annotations

import base64
import dataclasses
import os
import secrets
from collections.abc import Sequence
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12
KEY_BYTES = 32
KEYS_FILE = "payload-keys"


class CodecError(ValueError):
    """Keys that cannot be used, or a payload that cannot be decrypted."""


@dataclasses.dataclass(frozen=True)
class PayloadKeys:
    """Named 256-bit keys; the first encrypts, all of them decrypt."""

    keys: tuple[tuple[str, bytes], ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise CodecError("no payload keys given")
        for key_id, key in self.keys:
            if not key_id or not key_id.isascii() or ":" in key_id or "," in key_id:
                raise CodecError(f"payload key id {key_id!r} must be plain ASCII without : or ,")
            if len(key) != KEY_BYTES:
                raise CodecError(f"payload key {key_id!r} must be 32 bytes, not {len(key)}")

    @property
    def active(self) -> tuple[str, bytes]:
        return self.keys[0]

    def get(self, key_id: str) -> bytes | None:
        return next((key for kid, key in self.keys if kid == key_id), None)

    @classmethod
    def parse(cls, text: str) -> PayloadKeys:
        """`id:base64key` entries separated by commas or lines; '#' starts a comment."""
        entries = []
        for raw in text.replace(",", "\n").splitlines():
            entry = raw.split("#", 1)[0].strip()
            if not entry:
                continue
            key_id, sep, encoded = entry.partition(":")
            if not sep:
                raise CodecError(f"payload key entry {key_id!r} is not id:base64key")
            try:
                key = base64.b64decode(encoded.strip(), validate=True)
            except ValueError as exc:
                raise CodecError(f"payload key {key_id!r} is not base64: {exc}") from None
            entries.append((key_id.strip(), key))
        return cls(tuple(entries))

    def serialise(self) -> str:
        return "\n".join(f"{kid}:{base64.b64encode(key).decode()}" for kid, key in self.keys)


def new_key_entry(key_id: str | None = None) -> str:
    """A fresh `id:base64key` entry (for `jieya dev`, or a rotation)."""
    key_id = key_id or f"k{secrets.token_hex(4)}"
    return f"{key_id}:{base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()}"


def ensure_keys_file(data_dir: Path) -> Path:
    """The data dir's keys file, created with one new key (mode 0600) if missing."""
    path = data_dir / KEYS_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(new_key_entry() + "\n")
    return path


class EncryptionCodec(PayloadCodec):
    def __init__(self, keys: PayloadKeys) -> None:
        self._keys = keys
        self._ciphers = {kid: AESGCM(key) for kid, key in keys.keys}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        key_id, _ = self._keys.active
        cipher = self._ciphers[key_id]
        encoded = []
        for payload in payloads:
            nonce = os.urandom(NONCE_BYTES)
            sealed = cipher.encrypt(nonce, payload.SerializeToString(), key_id.encode())
            encoded.append(
                Payload(
                    metadata={"encoding": ENCODING, KEY_ID: key_id.encode()},
                    data=nonce + sealed,
                )
            )
        return encoded

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decode_one(payload) for payload in payloads]

    def decode_one(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # written before encryption, or by another codec: as it is
        key_id = payload.metadata.get(KEY_ID, b"").decode()
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise CodecError(f"payload encrypted with unknown key {key_id!r}; add it to the keys")
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        try:
            plain = cipher.decrypt(nonce, sealed, key_id.encode())
        except InvalidTag:
            raise CodecError(f"payload under key {key_id!r} fails its integrity check") from None
        return Payload.FromString(plain)


def data_converter(keys: PayloadKeys | None) -> DataConverter:
    """Pydantic payloads, encrypted when keys are given."""
    if keys is None:
        return pydantic_data_converter
    return dataclasses.replace(pydantic_data_converter, payload_codec=EncryptionCodec(keys))


def decrypt_json(value, keys: PayloadKeys | None):
    """A history (or any JSON holding payloads, as Temporal writes them) with every
    payload we encrypted replaced by its plain form; for timelines, exports and
    auditors. Without keys it is returned as it is."""
    if keys is None:
        return value
    codec = EncryptionCodec(keys)
    encoding = base64.b64encode(ENCODING).decode()

    def walk(node):
        if isinstance(node, list):
            return [walk(item) for item in node]
        if not isinstance(node, dict):
            return node
        metadata = node.get("metadata")
        if isinstance(metadata, dict) and metadata.get("encoding") == encoding:
            plain = codec.decode_one(json_format.ParseDict(node, Payload()))
            return json_format.MessageToDict(plain)
        return {key: walk(item) for key, item in node.items()}

    return walk(value)
