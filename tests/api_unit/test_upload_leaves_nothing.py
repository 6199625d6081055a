"""A refused upload writes nothing: no file in the document store, no Document row.

Every check (filename, doc_type, case state, size, content) runs before the
first byte is stored; these tests count the store's files around each refusal."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from api import records
from api.routes import documents
from models.enums import CaseStatus
from models.tables import Case, Document
from tests.utils.api_unit import MAX_UPLOAD, assert_error, auth, image_bytes, png_bytes, upload

pytestmark = [pytest.mark.timeout(120)]


async def document_rows(sessions, case_id: str) -> int:
    async with sessions() as session:
        query = select(func.count()).select_from(Document).where(Document.case_id == case_id)
        return (await session.exec(query)).scalar_one()


def multipart(filename: bytes, data: bytes, doc_type: bytes = b"id_card") -> tuple[bytes, str]:
    """Raw multipart bytes: httpx would percent-encode a control character in the name."""
    body = (
        b'--B0UND\r\nContent-Disposition: form-data; name="doc_type"\r\n\r\n' + doc_type + b"\r\n"
        b'--B0UND\r\nContent-Disposition: form-data; name="file"; filename="' + filename + b'"\r\n'
        b"Content-Type: image/jpeg\r\n\r\n" + data + b"\r\n--B0UND--\r\n"
    )
    return body, "multipart/form-data; boundary=B0UND"


async def refused(api, tokens, sessions, stored_files, case_id, status, code, **request) -> str:
    files_before, rows_before = stored_files(), await document_rows(sessions, case_id)
    headers = {**auth(tokens, "alice"), **request.pop("headers", {})}
    response = await api.post(f"/api/v1/cases/{case_id}/documents", headers=headers, **request)
    message = assert_error(response, status, code)
    assert stored_files() == files_before, "a refused upload left a file in the store"
    assert await document_rows(sessions, case_id) == rows_before
    return message


@pytest.mark.parametrize(
    "filename",
    [
        b"scan\x00.jpg",
        b"scan\x07.jpg",
        b"\x1b[31mscan.jpg",
        b"scan\x7f.jpg",
        "\u202egpj.exe".encode(),
    ],
    ids=["nul", "bel", "escape", "del", "bidi-override"],
)
async def test_filename_with_a_control_character_is_422_and_stores_nothing(
    api, tokens, sessions, stored_files, case_id, filename
):
    # Bytes no other test uploads: a file already in the store would hide a stray write.
    data = image_bytes("JPEG") + filename
    content, content_type = multipart(filename, data)
    message = await refused(
        api,
        tokens,
        sessions,
        stored_files,
        case_id,
        422,
        "invalid_filename",
        content=content,
        headers={"Content-Type": content_type},
    )
    assert "control character" in message


async def test_plain_unicode_filename_is_kept(api, tokens, sessions, stored_files, case_id):
    content, content_type = multipart("身份证 正面.jpg".encode(), image_bytes("JPEG") + b"cn")
    before = stored_files()
    response = await api.post(
        f"/api/v1/cases/{case_id}/documents",
        content=content,
        headers={**auth(tokens, "alice"), "Content-Type": content_type},
    )
    assert response.status_code == 201, response.text
    assert len(stored_files() - before) == 1
    async with sessions() as session:
        document = await session.get(Document, response.json()["document_id"])
    assert document.filename == "身份证 正面.jpg"


@pytest.mark.parametrize(
    ("request_kwargs", "status", "code"),
    [
        ({"files": {"file": ("a.jpg", b"")}, "data": {"doc_type": "id_card"}}, 422, "empty_file"),
        (
            {
                "files": {"file": ("a.jpg", image_bytes("JPEG")[:200])},
                "data": {"doc_type": "id_card"},
            },
            422,
            "corrupt_document",
        ),
        (
            {
                "files": {"file": ("a.jpg", b"x" * (MAX_UPLOAD + 1))},
                "data": {"doc_type": "id_card"},
            },
            413,
            "file_too_large",
        ),
        (
            {"files": {"file": ("a.png", b"unique-bytes")}, "data": {"doc_type": "passport"}},
            422,
            "validation_error",
        ),
    ],
    ids=["empty", "corrupt", "too-large", "unknown-doc-type"],
)
async def test_other_refusals_store_nothing(
    api, tokens, sessions, stored_files, case_id, request_kwargs, status, code
):
    await refused(api, tokens, sessions, stored_files, case_id, status, code, **request_kwargs)


async def test_case_closed_while_the_upload_was_read_stores_nothing(
    api, tokens, sessions, stored_files, case_id, monkeypatch
):
    """The first status check passed; the case closed before the upload took the case lock."""
    real_lock = records.lock_case

    async def close_then_lock(session, locked_case_id):
        async with sessions() as other:
            case = await other.get(Case, locked_case_id)
            case.status = CaseStatus.CANCELLED.value
            other.add(case)
            await other.commit()
        await real_lock(session, locked_case_id)

    monkeypatch.setattr(documents, "lock_case", close_then_lock)
    data = image_bytes("JPEG") + b"closing"
    message = await refused(
        api,
        tokens,
        sessions,
        stored_files,
        case_id,
        409,
        "case_closed",
        files={"file": ("a.jpg", data, "image/jpeg")},
        data={"doc_type": "id_card"},
    )
    assert "CANCELLED" in message


async def test_store_failure_leaves_no_row(api, tokens, sessions, api_app, case_id, monkeypatch):
    """The other half of the order: a row never points at bytes that were not stored."""

    async def disk_full(_data: bytes) -> str:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(api_app.state.store, "put", disk_full)
    response = await upload(api, tokens, case_id, image_bytes("JPEG") + b"full")
    assert_error(response, 503, "unavailable")
    assert await document_rows(sessions, case_id) == 0


async def test_accepted_upload_stores_one_file_and_a_duplicate_none(
    api, tokens, sessions, stored_files, case_id
):
    before = stored_files()
    first = await upload(api, tokens, case_id, png_bytes())
    assert first.status_code == 201, first.text
    stored = stored_files() - before
    assert stored == {f"{s[:2]}/{s[2:4]}/{s}" for s in [first.json()["sha256"]]}
    again = await upload(api, tokens, case_id, png_bytes())
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert stored_files() - before == stored
