"""Body caps: uploads (multipart, CSV) up to the upload cap, every other body 1 MiB."""

from __future__ import annotations

import json

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from api.app import create_app
from api.middleware import BODY_LIMIT, LimitBody
from kernel.settings import Settings
from tests.utils.api_unit import assert_error

pytestmark = [pytest.mark.timeout(60)]


async def echo_size(scope: Scope, receive: Receive, send: Send) -> None:
    """Reads the whole body and answers its length."""
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    body = json.dumps({"size": size}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def client_for(limit: int, body_limit: int) -> httpx.AsyncClient:
    app = LimitBody(echo_size, limit=limit, body_limit=body_limit)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def chunks(data: bytes, size: int = 500):
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def test_json_body_gets_the_small_cap_uploads_the_large_one():
    async with client_for(limit=10_000, body_limit=1_000) as client:
        json_body = {"Content-Type": "application/json"}
        assert (await client.post("/", content=b"x" * 1_000, headers=json_body)).status_code == 200
        too_big = await client.post("/", content=b"x" * 1_001, headers=json_body)
        assert "1000 bytes" in assert_error(too_big, 413, "body_too_large")
        no_type = await client.post("/", content=b"x" * 1_001)
        assert_error(no_type, 413, "body_too_large")
        for upload_type in ("multipart/form-data; boundary=x", "text/csv"):
            headers = {"Content-Type": upload_type}
            fits = await client.post("/", content=b"x" * 5_000, headers=headers)
            assert fits.json() == {"size": 5_000}
            over = await client.post("/", content=b"x" * 10_001, headers=headers)
            assert "10000 bytes" in assert_error(over, 413, "file_too_large")


async def test_the_small_cap_never_exceeds_the_upload_cap():
    async with client_for(limit=500, body_limit=1_000) as client:
        assert_error(await client.post("/", content=b"x" * 501), 413, "body_too_large")


async def test_the_api_refuses_a_json_body_over_one_mebibyte(tmp_path):
    """With a 4 MiB upload cap, a 2 MiB JSON body used to reach the JSON parser."""
    settings = Settings(
        env="test",
        database_url="postgresql://postgres@127.0.0.1:1/nowhere",
        temporal_address="127.0.0.1:1",
        data_dir=tmp_path,
        max_upload_bytes=4 * BODY_LIMIT,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://jieya.test") as client:
            padding = "x" * (2 * BODY_LIMIT)
            response = await client.post(
                "/api/v1/cases",
                json={"loan_contract_no": padding},
                headers={"Authorization": "Bearer x"},
            )
            assert str(BODY_LIMIT) in assert_error(response, 413, "body_too_large")
            # Without a Content-Length the body is counted as it arrives.
            streamed = await client.post(
                "/api/v1/cases",
                content=chunks(json.dumps({"loan_contract_no": padding}).encode(), 64 * 1024),
                headers={"Authorization": "Bearer x", "Content-Type": "application/json"},
            )
            assert_error(streamed, 413, "body_too_large")
            # An upload of the same size still reaches the route (which then needs a database).
            upload = await client.post(
                "/api/v1/cases/RC-1/documents",
                files={"file": ("a.jpg", padding.encode())},
                data={"doc_type": "id_card"},
                headers={"Authorization": "Bearer x"},
            )
            assert upload.status_code == 503, upload.text
