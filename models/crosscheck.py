"""Cross-check what a document says against the case and the loan ledger."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from datetime import date

from pydantic import BaseModel

from models.enums import DocType
from models.payloads import FieldMismatch


class ExpectedFacts(BaseModel):
    name: str
    id_number: str
    plate_no: str
    vin: str
    contract_no: str
    lender: str
    ledger_settled_at: date | None


# OCR confuses these glyphs in codes; plates and VINs never use I/O/Q, and a
# contract number that differs only by them is the same contract.
_CONFUSABLE = str.maketrans({"O": "0", "Q": "0", "I": "1"})
_CODE_FIELDS = frozenset({"contract_no", "plate_no", "vin"})


def _canon(value: str | None, field: str = "") -> str:
    if value is None:
        return ""
    text = "".join(unicodedata.normalize("NFKC", value).split()).upper()
    return text.translate(_CONFUSABLE) if field in _CODE_FIELDS else text


# Which expected fact each document field must equal.
_EQUALS = {
    "name": "name",
    "id_number": "id_number",
    "plate_no": "plate_no",
    "vin": "vin",
    "contract_no": "contract_no",
    "lender": "lender",
}


def cross_check(
    doc_type: DocType, fields: dict[str, dict], expected: ExpectedFacts
) -> list[FieldMismatch]:
    mismatches: list[FieldMismatch] = []

    def mismatch(key: str, reading: dict, expected_value: str | None) -> None:
        mismatches.append(
            FieldMismatch(
                doc_type=doc_type,
                field=key,
                ocr_value=reading.get("value"),
                expected=expected_value,
                confidence=float(reading.get("confidence") or 0.0),
                box=reading.get("box"),
            )
        )

    for key, reading in fields.items():
        value = reading.get("value")
        if not value:
            continue  # a missing field is the OCR review's finding, not a mismatch
        if key in _EQUALS:
            want = getattr(expected, _EQUALS[key])
            if _canon(value, key) != _canon(want, key):
                mismatch(key, reading, want)
        elif key == "settled_date" and expected.ledger_settled_at is not None:
            try:
                printed = date.fromisoformat(value)
            except ValueError:
                continue
            if printed < expected.ledger_settled_at:
                mismatch(key, reading, f">= {expected.ledger_settled_at.isoformat()}")
    return mismatches


def dropped_characters(shorter: str, full: str) -> bool:
    """``shorter`` is ``full`` with one or more characters left out (张丰, 张三丰).

    OCR loses a faint or crowded character far more often than it invents one,
    so a name that is another's with gaps is likely the same name misread."""
    if not shorter or len(shorter) >= len(full):
        return False
    rest = iter(full)
    return all(char in rest for char in shorter)


def shorter_names(readings: Mapping[DocType, Mapping[str, Mapping]]) -> dict[DocType, dict]:
    """The case's documents whose name is the ID card's with characters lost.

    ``readings`` maps each document type to its stored fields (``{key:
    {"value", ...}}``).  Each hit is a doubt in the shape OCR uses for one
    (``{"kind": "shorter_than_id", "detail", "alternative"}``), for the shorter
    reading: the name mismatch it also is says less than that."""
    id_card = readings.get(DocType.ID_CARD, {}).get("name") or {}
    full = _canon(id_card.get("value"))
    doubts = {}
    for doc_type, fields in readings.items():
        name = _canon((fields.get("name") or {}).get("value"))
        if doc_type is not DocType.ID_CARD and dropped_characters(name, full):
            doubts[doc_type] = {
                "kind": "shorter_than_id",
                "detail": f"'{name}' is shorter than the ID card's '{full}'; a character may be lost",
                "alternative": full,
            }
    return doubts
