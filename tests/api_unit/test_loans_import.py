"""`POST /loans/import`: multipart or text/csv, and the answers for what is neither."""

from __future__ import annotations

import pytest

from api.app import create_app
from api.routes import loans
from tests.api_unit.conftest import api_settings, serving
from tests.utils.api_unit import MAX_UPLOAD, RUN, assert_error, auth, ledger_csv

pytestmark = [pytest.mark.timeout(120)]
IMPORT = "/api/v1/loans/import"


async def test_multipart_without_a_file_field_is_422_naming_it(api, tokens):
    response = await api.post(
        IMPORT, files={"ledger": ("l.csv", ledger_csv(f"HT-NF-{RUN}"))}, headers=auth(tokens, "bob")
    )
    message = assert_error(response, 422, "validation_error")
    assert message.startswith("file:") and "text/csv" in message


async def test_url_encoded_form_is_422_too(api, tokens):
    response = await api.post(IMPORT, data={"csv": "x"}, headers=auth(tokens, "bob"))
    assert assert_error(response, 422, "validation_error").startswith("file:")


async def test_file_sent_as_a_text_field_is_422(api, tokens):
    # A `file` that is a form field, not a file part: FastAPI's own refusal, still no 500.
    response = await api.post(
        IMPORT, data={"file": "contract_no"}, files={"x": ("x", b"1")}, headers=auth(tokens, "bob")
    )
    assert assert_error(response, 422, "validation_error").startswith("file:")


async def test_csv_body_still_imports(api, tokens):
    response = await api.post(
        IMPORT,
        content=ledger_csv(f"HT-CSV2-{RUN}").encode(),
        headers={**auth(tokens, "bob"), "Content-Type": "text/csv; charset=utf-8"},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"imported": 1, "cases_signalled": 0}


async def test_empty_and_oversized_bodies_keep_their_answers(api, tokens):
    csv_headers = {**auth(tokens, "bob"), "Content-Type": "text/csv"}
    empty = await api.post(IMPORT, content=b"", headers=csv_headers)
    assert_error(empty, 422, "empty_file")
    empty_file = await api.post(IMPORT, files={"file": ("l.csv", b"")}, headers=auth(tokens, "bob"))
    assert_error(empty_file, 422, "empty_file")
    big = b"x" * (MAX_UPLOAD + 1)
    assert str(MAX_UPLOAD) in assert_error(
        await api.post(IMPORT, content=big, headers=csv_headers), 413, "file_too_large"
    )
    assert str(MAX_UPLOAD) in assert_error(
        await api.post(IMPORT, files={"file": ("l.csv", big)}, headers=auth(tokens, "bob")),
        413,
        "file_too_large",
    )


async def test_a_ledger_past_the_bind_parameter_limit_imports(
    database_url, time_env, tmp_path, tokens, monkeypatch
):
    """33,000 contracts: one IN list for the open-case lookup would need more than
    PostgreSQL's 32,767 parameters and fail after the import had committed."""
    header, row = ledger_csv("HT-ROW").splitlines()
    rows = [row.replace("HT-ROW", f"HT-{RUN}-{n:05d}", 1) for n in range(33_000)]
    body = "\n".join([header, *rows, ""]).encode()

    async def upserted(_sessions, rows, actor="cli") -> int:
        return len(rows)  # the lookup is under test; 33,000 upserts would only be slow

    monkeypatch.setattr(loans, "upsert_loans", upserted)
    settings = api_settings(database_url, time_env, tmp_path, max_upload_bytes=len(body) + 1)
    async with serving(create_app(settings)) as client:
        response = await client.post(
            IMPORT, content=body, headers={**auth(tokens, "bob"), "Content-Type": "text/csv"}
        )
    assert response.status_code == 200, response.text
    assert response.json() == {"imported": 33_000, "cases_signalled": 0}
