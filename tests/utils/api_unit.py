"""Shared by the in-process API unit tests: the app over ASGI against real
PostgreSQL and the time-skipping server (no worker), operators, and helpers."""

from __future__ import annotations

import io
import uuid

import httpx
from PIL import Image

from tests.utils.inprocess import id_number, loan, vin

MAX_UPLOAD = 200_000
HMAC_SECRET = "unit-test-secret"
RUN = uuid.uuid4().hex[:8].upper()


def loan_row(contract_no: str) -> dict:
    return loan(contract_no, settled=False)


def case_body(contract_no: str, **borrower) -> dict:
    return {
        "loan_contract_no": contract_no,
        "borrower": {"name": "张三", "id_number": id_number(), "phone": "13812345678", **borrower},
        "vehicle": {"plate_no": "京A12345", "vin": vin()},
    }


def image_bytes(fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), "white").save(buffer, format=fmt)
    return buffer.getvalue()


def png_bytes() -> bytes:
    return image_bytes("PNG")


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    if code:
        assert body["error"]["code"] == code, body
    assert "Traceback" not in response.text
    return body["error"]["message"]


def auth(tokens: dict[str, str], who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[who]}"}


async def upload(api, tokens, case_id, data: bytes, doc_type="id_card", who="alice"):
    return await api.post(
        f"/api/v1/cases/{case_id}/documents",
        files={"file": ("photo.jpg", data, "image/jpeg")},
        data={"doc_type": doc_type},
        headers=auth(tokens, who),
    )


def ledger_csv(contract_no: str) -> str:
    """A one-loan ledger file in which the loan is settled."""
    header = "contract_no,borrower_name,id_number,phone,plate_no,vin,lender,status,outstanding_amount,settled_at"
    row = f"{contract_no},张三,{id_number()},13812345678,京A12345,{vin()},华夏,settled,0,2026-01-05"
    return f"{header}\n{row}\n"
