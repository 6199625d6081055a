"""What each OCR field key looks like: its picker (``pickers.py``), how to
judge it, a fallback that finds it by shape alone, and any repair.

Validators return None when the value is acceptable, else a reason in plain
words for the person reviewing the document.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from activities.ocr.pickers import (
    CJK,
    ETHNIC_GROUPS,
    pick_address,
    pick_contract_no,
    pick_date,
    pick_engine_no,
    pick_ethnicity,
    pick_free_text,
    pick_id_number,
    pick_lender,
    pick_name,
    pick_plate,
    pick_sex,
    pick_vin,
    squeeze,
)
from models.identity import (
    PROVINCE_ABBREVIATIONS,
    check_id_number,
    check_plate,
    check_vin,
    fix_vin_chars,
    normalize_amount,
    normalize_plate,
)

_INSTITUTION = re.compile(rf"[{CJK}()]{{2,40}}(银行|分行|支行|公司|合作社|信用社|中心)(有限公司)?$")


# --- repairs: undo a likely misreading, only when a check digit proves it ---


# Japanese, Korean and European makers often leave position 9 unused; elsewhere
# (China and North America by law) a wrong check digit means a misread VIN.
_CHECK_DIGIT_OPTIONAL = "JKSTUVWXYZ"


def doubt_vin(value: str) -> str | None:
    if value.startswith("C"):
        # C and L both count 3 in the check sum, so an L misread as C (CHG… for
        # LHG…) passes; no maker selling in China uses a C… WMI.
        return "starts with C, which may be a misread L; please compare it with the vehicle"
    if check_vin(value).check_digit_verified or value[:1] in _CHECK_DIGIT_OPTIONAL:
        return None
    return "has a check digit that does not match; please compare it with the vehicle"


def repair_vin(value: str) -> str | None:
    """A Chinese VIN whose leading L was read as 1, if the check digit proves it.

    Only this one swap: any single swap makes about one VIN in eleven check
    out, so a wider search would "correct" to wrong VINs as often as right ones.
    """
    if len(value) != 17 or value[0] != "1" or check_vin(value).check_digit_verified:
        return None
    fixed = "L" + value[1:]
    return fixed if check_vin(fixed).check_digit_verified else None


# --- validators ------------------------------------------------------------


def _reason(check: object) -> str | None:
    return None if check.valid else check.reason  # type: ignore[attr-defined]


def valid_name(value: str) -> str | None:
    if re.search("公司|银行|有限|证明|号码|金融|汽车|股份|分行|支行|专用章|姓名|名称", value):
        return "reads like other text, not a person's name"
    if re.fullmatch(f"[{CJK}]", value):
        # A surname alone: the given name was lost (a faint glyph, a seal over it).
        return "is one character, a surname without its given name"
    # Han names have 2-5 characters; longer ones are transliterations joined by ·.
    if re.fullmatch(rf"[{CJK}]{{2,5}}|[{CJK}]+(·[{CJK}]+)+|[A-Za-z][A-Za-z .'-]{{1,40}}", value):
        return None
    return "does not look like a person's name"


def valid_sex(value: str) -> str | None:
    return None if value in ("男", "女") else "must be 男 or 女"


def valid_ethnicity(value: str) -> str | None:
    return None if value in ETHNIC_GROUPS else f"{value} is not one of the 56 ethnic groups"


def date_between(earliest: date, *, future_days: int = 0) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        when = date.fromisoformat(value)
        latest = date.fromordinal(date.today().toordinal() + future_days)
        if when < earliest:
            return f"{value} is implausibly early"
        if when > latest:
            return f"{value} is in the future"
        return None

    return check


def address_continues(text: str) -> bool:
    """A wrapped address line (…1451室, 12-3-501) is never a VIN, a date or an
    identifier that lost its label."""
    compact = squeeze(text)
    if not compact or re.search(r"[A-Z0-9]{10,}", compact) or pick_date(compact):
        return False
    return bool(re.search(f"[{CJK}]", compact)) or len(compact) <= 8


def valid_address(value: str) -> str | None:
    if len(value) >= 6 and re.search(f"[{CJK}]", value):
        return None
    return "is too short to be an address"


def valid_contract_no(value: str) -> str | None:
    if re.fullmatch(r"[A-Z0-9][A-Z0-9\-_/]{5,39}", value) and re.search(r"\d", value):
        return None
    return "does not look like a contract number"


def valid_amount(value: str) -> str | None:
    return None if float(value) > 0 else "must be more than zero"


def valid_engine_no(value: str) -> str | None:
    if re.fullmatch(r"[A-Z0-9][A-Z0-9\-]{3,19}", value) and re.search(r"\d", value):
        return None
    return "does not look like an engine number"


def valid_lender(value: str) -> str | None:
    if _INSTITUTION.search(value) or re.search("银行|金融|信托|租赁|贷款", value):
        return None
    return "does not look like the name of a lender"


def valid_text(value: str) -> str | None:
    return None if len(value) >= 2 else "is too short"


# --- fallback scanners: the value's own shape, anywhere on the page ---------


def scan_id_numbers(text: str) -> list[str]:
    compact = squeeze(text).upper()
    return [m for m in re.findall(r"(?<![0-9A-Z])[0-9]{17}[0-9X](?![0-9A-Z])", compact)
            if check_id_number(m).valid]  # fmt: skip


def scan_vins(text: str) -> list[str]:
    runs = re.findall(r"(?<![A-Z0-9])[A-Z0-9]{17}(?![A-Z0-9])", squeeze(text).upper())
    return [fix_vin_chars(r) for r in runs if check_vin(fix_vin_chars(r)).check_digit_verified]


def scan_plates(text: str) -> list[str]:
    compact = normalize_plate(text)
    found = re.findall(rf"[{PROVINCE_ABBREVIATIONS}][A-Z][A-Z0-9]{{5,6}}(?![A-Z0-9])", compact)
    return [p for p in found if check_plate(p).valid]


_DATE_TEXT = r"(?:19|20)\d{2}\s*[年\-./]\s*\d{1,2}\s*[月\-./]\s*\d{1,2}\s*日?"
_SETTLED_NEAR_DATE = re.compile(
    rf"(?P<a>{_DATE_TEXT})[^\d]{{0,8}}?(?:结清|还清|清偿|清结)"
    rf"|(?:结清|还清|清偿)[^\d]{{0,8}}?(?P<b>{_DATE_TEXT})"
)


def scan_settled_dates(text: str) -> list[str]:
    # Only a date in a sentence about settling, not the issue date at the foot;
    # this runs on the whole page, so a sentence may wrap (…全部结 / 清…).
    found = []
    for match in _SETTLED_NEAR_DATE.finditer(squeeze(text)):
        value = pick_date(match["a"] or match["b"])
        if value:
            found.append(value)
    return found


def scan_any_date(text: str) -> list[str]:
    value = pick_date(text)
    return [value] if value else []


def scan_lenders(text: str) -> list[str]:
    compact = squeeze(text).strip("()")
    return [compact] if _INSTITUTION.fullmatch(compact) and valid_lender(compact) is None else []


@dataclass(frozen=True)
class FieldSpec:
    key: str
    title: str  # how issues name the field
    pick: Callable[[str], str | None]
    validate: Callable[[str], str | None]
    scan: Callable[[str], list[str]] | None = None
    # For values that wrap onto following lines: whether a line reads as more of it.
    continues: Callable[[str], bool] | None = None
    repair: Callable[[str], str | None] | None = None
    # A reason to have a person look at a value that passes its check.
    doubt: Callable[[str], str | None] | None = None
    # Scan the page's text as one string (for values inside wrapped sentences),
    # not line by line.
    scan_page: bool = False


FIELDS: dict[str, FieldSpec] = {
    spec.key: spec
    for spec in (
        FieldSpec("name", "name", pick_name, valid_name),
        FieldSpec(
            "id_number", "ID number", pick_id_number, lambda v: _reason(check_id_number(v)),
            scan_id_numbers,
        ),
        FieldSpec("sex", "sex", pick_sex, valid_sex),
        FieldSpec(
            # The birth date is the only date on an ID card's front.
            "birth_date", "birth date", pick_date, date_between(date(1900, 1, 1)), scan_any_date,
        ),
        FieldSpec("address", "address", pick_address, valid_address, continues=address_continues),
        FieldSpec("ethnicity", "ethnicity", pick_ethnicity, valid_ethnicity),
        FieldSpec("contract_no", "contract number", pick_contract_no, valid_contract_no),
        FieldSpec(
            "plate_no", "plate number", pick_plate, lambda v: _reason(check_plate(v)), scan_plates
        ),
        FieldSpec(
            "vin", "VIN", pick_vin, lambda v: _reason(check_vin(v)), scan_vins,
            repair=repair_vin, doubt=doubt_vin,
        ),
        FieldSpec("engine_no", "engine number", pick_engine_no, valid_engine_no),
        FieldSpec(
            "settled_date", "settlement date", pick_date,
            date_between(date(1990, 1, 1), future_days=1), scan_settled_dates, scan_page=True,
        ),
        FieldSpec("amount", "amount", normalize_amount, valid_amount),
        FieldSpec("lender", "lender", pick_lender, valid_lender, scan_lenders),
        FieldSpec("brand_model", "brand and model", pick_free_text, valid_text),
        # Registration certificates print brand and model apart; extract joins them.
        FieldSpec("vehicle_model", "vehicle model", pick_free_text, valid_text),
        FieldSpec("register_date", "registration date", pick_date, date_between(date(1950, 1, 1))),
    )
}  # fmt: skip
