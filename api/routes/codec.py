"""A codec endpoint for Temporal's UI and CLI (auditors and admins only): the
payloads this deployment encrypted (kernel/codec.py), in plain form.

Speaks the codec-server protocol: `POST /codec/decode` and `/codec/encode` take
and answer `{"payloads": [{"metadata": {key: base64}, "data": base64}]}`, the
`Payloads` message in protobuf JSON. Point the CLI at it with
`temporal workflow show --codec-endpoint URL/api/v1/codec --codec-auth "Bearer TOKEN"`.
Every decode is audited (`payloads.decoded` on the `system` stream: who, how
many, which namespace; never what they said)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from api.auth import PayloadReader
from api.deps import CodecDep, SessionDep
from api.errors import ApiError
from api.schemas import CodecPayloads
from kernel.codec import CodecError, EncryptionCodec
from models.audit import SYSTEM_STREAM, append_event

router = APIRouter(prefix="/codec", tags=["codec"])

NamespaceHeader = Annotated[str | None, Header(alias="X-Namespace", max_length=256)]


def _codec(codec: EncryptionCodec | None) -> EncryptionCodec:
    if codec is None:
        raise ApiError(
            503,
            "codec_unavailable",
            "this API has no payload keys (JIEYA_PAYLOAD_KEYS or the keys file), "
            "so it cannot encode or decode payloads",
        )
    return codec


def _payloads(body: CodecPayloads) -> Payloads:
    try:
        return json_format.ParseDict(body.model_dump(), Payloads())
    except json_format.ParseError as error:
        raise ApiError(422, "invalid_payloads", f"the payloads are not valid: {error}") from None


def _answer(payloads) -> CodecPayloads:
    return CodecPayloads.model_validate(json_format.MessageToDict(Payloads(payloads=payloads)))


@router.post("/decode", response_model=CodecPayloads)
async def decode_payloads(
    body: CodecPayloads,
    operator: PayloadReader,
    session: SessionDep,
    codec: CodecDep,
    namespace: NamespaceHeader = None,
) -> CodecPayloads:
    """Decrypt payloads this deployment encrypted; others come back as they are."""
    payloads = _payloads(body).payloads
    try:
        decoded = await _codec(codec).decode(payloads)
    except CodecError as error:
        raise ApiError(422, "undecodable_payload", str(error)) from None
    if decoded:
        # Committed before the plain payloads leave, as every reveal of personal data is.
        await append_event(
            session,
            stream=SYSTEM_STREAM,
            event="payloads.decoded",
            actor=operator.name,
            details={"count": len(decoded), "role": operator.role, "namespace": namespace},
            event_key=f"codec:decode:{uuid.uuid4().hex}",
        )
        await session.commit()
    return _answer(decoded)


@router.post("/encode", response_model=CodecPayloads)
async def encode_payloads(body: CodecPayloads, _: PayloadReader, codec: CodecDep) -> CodecPayloads:
    """Encrypt payloads with the newest key (to start a workflow from the UI or CLI)."""
    return _answer(await _codec(codec).encode(_payloads(body).payloads))
