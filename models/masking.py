"""The one PII masker: ID and phone numbers as views, logs and the audit trail show them.

Pure (no I/O) so the API, the structlog processor and `append_event` share it.
"""

from __future__ import annotations

import re
from typing import Any


def mask_id_number(value: str) -> str:
    """First 6 and last 4 characters: `110101********1234`."""
    if len(value) <= 10:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def mask_phone(value: str) -> str:
    """First 3 and last 4 digits: `138****5678`."""
    if len(value) < 8:
        return "*" * len(value)
    return value[:3] + "****" + value[-4:]


# ID and mobile numbers inside free text (risk reasons quote what a document says, and
# OCR misreads some characters): 18 characters opening with a 6-digit region code, the
# old 15-digit form, or a mainland mobile number, each standing alone.
_ID_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])(?:\d{6}[0-9A-Za-z]{11}[0-9Xx]|\d{15})(?![0-9A-Za-z])")
_PHONE_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])1[3-9]\d{9}(?![0-9A-Za-z])")
ID_KEYS = frozenset({"id_number", "borrower_id_number"})
PHONE_KEYS = frozenset({"phone", "borrower_phone"})
# Keys whose value is a reading of the field named by the enclosing key or `field`.
_READING_KEYS = frozenset({"value", "ocr_value", "expected"})


def mask_text(text: str) -> str:
    """Every ID and mobile number standing alone in `text`, masked."""
    text = _ID_IN_TEXT.sub(lambda m: mask_id_number(m.group()), text)
    return _PHONE_IN_TEXT.sub(lambda m: mask_phone(m.group()), text)


def masked(value: Any, key: str | None = None) -> Any:
    """`value` with every ID and phone number masked: by key where the data names
    the field (`id_number`, OCR readings, mismatches), by shape in free text."""
    if isinstance(value, str):
        if key in ID_KEYS:
            return mask_id_number(value)
        if key in PHONE_KEYS:
            return mask_phone(value)
        return mask_text(value)
    if isinstance(value, list | tuple):
        return type(value)(masked(item, key) for item in value)
    if isinstance(value, dict):
        # An OCR reading `{"value": ...}` under `id_number`, or a mismatch naming its field.
        field = value.get("field") if isinstance(value.get("field"), str) else None
        inner = key if key in ID_KEYS | PHONE_KEYS else field
        return {
            k: masked(v, inner if k in _READING_KEYS and inner else k) for k, v in value.items()
        }
    return value
