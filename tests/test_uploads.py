"""Document uploads through the API against a real PostgreSQL: what is refused, why,
and that a refusal leaves nothing behind (no stored file, no Document row).

`test_api_unit.py` already covers empty files, HEIC, a garbage PNG, the size cap
on a header-only blob, an unknown doc_type, roles, and a PNG uploaded twice.
This module adds real-image cases: truncated JPEGs, decompression bombs, files
whose name lies about their kind, EXIF orientation, a real 1-page PDF, and the
nothing-half-written check after every refusal (and on a duplicate).
"""

from __future__ import annotations

import io
import struct
import uuid
import zlib
from pathlib import Path

import httpx
import pytest
from PIL import Image, ImageDraw
from sqlalchemy import func, select

from models.enums import Role
from models.loans import upsert_loans
from models.operators import add_operator
from models.tables import Document
from tests.utils.inprocess import FakeTemporal, id_number, in_process_api, loan, vin

pytestmark = [pytest.mark.timeout(120)]

RUN = uuid.uuid4().hex[:6].upper()
URL = "/api/v1/cases/{}/documents"


# --- files ------------------------------------------------------------------------


def picture(size: tuple[int, int] = (320, 200), seed: int = 0) -> Image.Image:
    """A small image with some content, different per seed (so sha256s differ)."""
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((10 + seed, 10, size[0] // 2, size[1] // 2), fill=(200, 30, 30))
    draw.text((20, size[1] - 40), f"jieya {RUN} {seed}", fill="black")
    return image


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_declaring(width: int, height: int) -> bytes:
    """A tiny, well-formed PNG whose header claims ``width`` x ``height`` pixels."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    pixels = zlib.compress(b"\x00" * 64)  # far fewer rows than declared
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", pixels)
        + _chunk(b"IEND", b"")
    )


# --- fixtures -----------------------------------------------------------------------


@pytest.fixture(scope="module")
async def app_client(database_url, tmp_path_factory):
    async with in_process_api(database_url, tmp_path_factory.mktemp("uploads"), FakeTemporal()) as (
        client,
        app,
    ):
        yield client, app


@pytest.fixture(scope="module")
async def headers(sessions) -> dict[str, str]:
    token = await add_operator(sessions, f"up-op-{RUN}", Role.OPERATOR, branch=f"U{RUN}")
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def case_id(app_client, headers, sessions) -> str:
    client, _app = app_client
    contract_no = f"UP-{RUN}-{uuid.uuid4().hex[:6]}"
    await upsert_loans(sessions, [loan(contract_no)])
    body = {
        "loan_contract_no": contract_no,
        "borrower": {"name": "张三", "id_number": id_number(), "phone": "13812345678"},
        "vehicle": {"plate_no": "京A12345", "vin": vin()},
    }
    response = await client.post("/api/v1/cases", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["case_id"]


def stored_files(app) -> set[Path]:
    """Every file under the documents dir, temporaries (.incoming-*) included."""
    root: Path = app.state.settings.documents_dir
    return {path for path in root.rglob("*") if path.is_file()} if root.exists() else set()


async def document_rows(sessions, case_id: str) -> int:
    async with sessions() as session:
        result = await session.exec(
            select(func.count()).select_from(Document).where(Document.case_id == case_id)
        )
        return result.scalar_one()


async def upload(
    client: httpx.AsyncClient,
    headers: dict,
    case_id: str,
    data: bytes,
    filename: str = "scan.png",
    content_type: str = "image/png",
    doc_type: str = "id_card",
) -> httpx.Response:
    return await client.post(
        URL.format(case_id),
        files={"file": (filename, data, content_type)},
        data={"doc_type": doc_type},
        headers=headers,
    )


async def refused(
    app_client, headers, sessions, case_id, data: bytes, status: int, code: str, **kwargs
) -> str:
    """Upload ``data``, expect ``status``/``code``, and check nothing was left behind;
    returns the error message."""
    client, app = app_client
    files_before = stored_files(app)
    rows_before = await document_rows(sessions, case_id)
    response = await upload(client, headers, case_id, data, **kwargs)
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    assert "Traceback" not in response.text
    assert stored_files(app) == files_before, "a refused upload left a file behind"
    assert await document_rows(sessions, case_id) == rows_before, "a refused upload left a row"
    return body["error"]["message"]


# --- refusals -----------------------------------------------------------------------


async def test_oversized_real_image_is_413_and_nothing_is_stored(
    app_client, headers, sessions, case_id
):
    _client, app = app_client
    limit = app.state.settings.max_upload_bytes
    # A valid JPEG padded past the cap (bytes after EOI are ignored by decoders).
    data = encode(picture(), "JPEG")
    data += b"\x00" * (limit + 1 - len(data))
    message = await refused(
        app_client,
        headers,
        sessions,
        case_id,
        data,
        413,
        "file_too_large",
        filename="big.jpg",
        content_type="image/jpeg",
    )
    assert str(limit) in message


async def test_truncated_jpeg_is_422_saying_so(app_client, headers, sessions, case_id):
    whole = encode(picture((800, 600), seed=1), "JPEG", quality=90)
    message = await refused(
        app_client,
        headers,
        sessions,
        case_id,
        whole[: len(whole) // 2],
        422,
        "corrupt_document",
        filename="cut.jpg",
        content_type="image/jpeg",
    )
    assert "truncated" in message and "image/jpeg" in message, message


@pytest.mark.parametrize(
    ("width", "height"),
    [
        (20_000, 20_000),  # 400 MP: Pillow's DecompressionBombError
        (10_000, 10_000),  # 100 MP: past Pillow's warning limit, under its error limit
        (7_000, 7_000),  # 49 MP: under Pillow's limits, over our page limit
    ],
)
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
async def test_decompression_bomb_is_refused_not_500(
    app_client, headers, sessions, case_id, width, height
):
    assert width * height > 40_000_000
    message = await refused(
        app_client,
        headers,
        sessions,
        case_id,
        png_declaring(width, height),
        415,
        "unsupported_document",
        filename="bomb.png",
    )
    assert "large" in message, message


async def test_gif_named_png_is_415(app_client, headers, sessions, case_id):
    gif = encode(picture(seed=2), "GIF")
    message = await refused(
        app_client, headers, sessions, case_id, gif, 415, "unsupported_document"
    )
    assert "GIF" in message, message


async def test_text_named_png_is_415(app_client, headers, sessions, case_id):
    text = "合同号 HT-123，车牌 京A12345\n".encode() * 20
    message = await refused(
        app_client, headers, sessions, case_id, text, 415, "unsupported_document"
    )
    assert "JPEG" in message and "PDF" in message, message


async def test_empty_file_leaves_nothing(app_client, headers, sessions, case_id):
    await refused(app_client, headers, sessions, case_id, b"", 422, "empty_file")


async def test_png_declared_as_pdf_is_judged_by_its_bytes(app_client, headers, sessions, case_id):
    # The name and content type lie the other way: a PDF name on a truncated PNG.
    broken = encode(picture(seed=3), "PNG")[:200]
    await refused(
        app_client,
        headers,
        sessions,
        case_id,
        broken,
        422,
        "corrupt_document",
        filename="scan.pdf",
        content_type="application/pdf",
    )


# --- acceptances --------------------------------------------------------------------


async def test_good_png_and_one_page_pdf_are_stored_once(app_client, headers, sessions, case_id):
    client, app = app_client
    png = encode(picture(seed=4), "PNG")
    pdf = encode(picture((595, 842), seed=5), "PDF", resolution=72)

    first = await upload(client, headers, case_id, png)
    assert first.status_code == 201, first.text
    assert first.json()["duplicate"] is False
    scan = await upload(
        client,
        headers,
        case_id,
        pdf,
        filename="settlement.pdf",
        content_type="application/pdf",
        doc_type="settlement_certificate",
    )
    assert scan.status_code == 201, scan.text
    files, rows = stored_files(app), await document_rows(sessions, case_id)
    assert rows == 2
    assert {path.name for path in files} >= {first.json()["sha256"], scan.json()["sha256"]}

    # The same PDF bytes again: recognised, and nothing new written.
    again = await upload(
        client,
        headers,
        case_id,
        pdf,
        filename="settlement-again.pdf",
        content_type="application/pdf",
        doc_type="settlement_certificate",
    )
    assert again.status_code == 200, again.text
    assert again.json() == {**scan.json(), "duplicate": True}
    assert stored_files(app) == files
    assert await document_rows(sessions, case_id) == 2

    async with sessions() as session:
        document = await session.get(Document, scan.json()["document_id"])
    assert document.media_type == "application/pdf" and document.pages == 1


async def test_exif_rotated_jpeg_is_accepted(app_client, headers, sessions, case_id):
    client, _app = app_client
    image = picture((400, 240), seed=6)  # stored landscape...
    exif = Image.Exif()
    exif[0x0112] = 6  # ...shown rotated 90° clockwise (a phone held upright)
    data = encode(image, "JPEG", exif=exif.tobytes())
    response = await upload(
        client, headers, case_id, data, filename="IMG_0001.jpg", content_type="image/jpeg"
    )
    assert response.status_code == 201, response.text
    async with sessions() as session:
        document = await session.get(Document, response.json()["document_id"])
    assert document.media_type == "image/jpeg" and document.pages == 1

    from activities.ocr.images import load_pages

    (page,) = load_pages(data)
    assert page.shape[:2] == (400, 240), "EXIF orientation was not applied"
