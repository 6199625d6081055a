"""Normalisers and validators for the identifiers printed on loan documents.

Pure functions only: the OCR extractor, the risk rules and the API all call
these, so they must not depend on anything but the standard library.  Each
``check_*`` returns a small frozen result instead of raising, because a bad
identifier on a borrower's document is an ordinary finding, not an error.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

# --- text ------------------------------------------------------------------

# NFKC already folds full-width ASCII (：，（） ０-９ Ａ-Ｚ) to half-width; these are
# the look-alikes it leaves alone and that OCR engines emit interchangeably.
_PUNCT_MAP = str.maketrans(
    {
        "∶": ":",
        "︰": ":",
        "﹕": ":",
        "ː": ":",
        "—": "-",
        "–": "-",
        "－": "-",
        "―": "-",
        "•": "·",
        "・": "·",
        "‧": "·",
        "。": ".",
        "、": ",",
        "“": '"',
        "”": '"',
        "‘": "'",
        "’": "'",
        "【": "[",
        "】": "]",
        "〔": "(",
        "〕": ")",
        "\u3000": " ",
    }
)
_SPACES = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """Fold full-width forms and punctuation variants, collapse whitespace."""
    folded = unicodedata.normalize("NFKC", text).translate(_PUNCT_MAP)
    return _SPACES.sub(" ", folded).strip()


# --- dates -----------------------------------------------------------------

_DATE_PATTERNS = (
    # 2026年3月5日 / 2026-03-05 / 2026.3.5 / 2026/03/05, with stray OCR spaces.
    re.compile(r"(?P<y>(?:19|20)\d{2})\s*[年\-./]\s*(?P<m>\d{1,2})\s*[月\-./]\s*(?P<d>\d{1,2})"),
    # 20260305 printed without separators.
    re.compile(r"(?<!\d)(?P<y>(?:19|20)\d{2})(?P<m>[01]\d)(?P<d>[0-3]\d)(?!\d)"),
)


def parse_date(text: str) -> date | None:
    """The first calendar date written in ``text``, or None."""
    folded = normalize_text(text)
    for pattern in _DATE_PATTERNS:
        for match in pattern.finditer(folded):
            try:
                return date(int(match["y"]), int(match["m"]), int(match["d"]))
            except ValueError:
                continue
    return None


def normalize_date(text: str) -> str | None:
    """``2026年3月5日`` / ``2026.3.5`` / ``2026/03/05`` → ``2026-03-05``; None if no real date."""
    parsed = parse_date(text)
    return parsed.isoformat() if parsed else None


# --- amounts ---------------------------------------------------------------

_CN_DIGITS = {
    "零": 0, "〇": 0, "壹": 1, "一": 1, "贰": 2, "貳": 2, "二": 2, "两": 2, "叁": 3, "參": 3,
    "三": 3, "肆": 4, "四": 4, "伍": 5, "五": 5, "陆": 6, "陸": 6, "六": 6, "柒": 7, "七": 7,
    "捌": 8, "八": 8, "玖": 9, "九": 9,
}  # fmt: skip
_CN_SMALL_UNITS = {"拾": 10, "十": 10, "佰": 100, "百": 100, "仟": 1000, "千": 1000}
_CN_BIG_UNITS = {"万": 10_000, "萬": 10_000, "亿": 100_000_000, "億": 100_000_000}
_CN_FRACTION = {"角": Decimal("0.1"), "分": Decimal("0.01")}
_NUMERIC_AMOUNT = re.compile(r"-?\d+(?:\.\d+)?")


def _parse_chinese_amount(text: str) -> Decimal | None:
    """Parse a capital-numeral amount such as 壹万贰仟叁佰肆拾伍元陆角 (finance 大写)."""
    body = re.sub(r"^(人民币|RMB)", "", text.strip())
    body = body.replace("圆", "元").rstrip("整正")
    if not any(ch in _CN_DIGITS or ch in _CN_SMALL_UNITS for ch in body) or any(
        ch not in _CN_DIGITS
        and ch not in _CN_SMALL_UNITS
        and ch not in _CN_BIG_UNITS
        and ch not in _CN_FRACTION
        and ch != "元"
        for ch in body
    ):
        return None
    integer_part, _, fraction_part = body.partition("元")
    if "元" not in body:
        integer_part, fraction_part = ("", body) if body[-1] in _CN_FRACTION else (body, "")
    # 亿 and 万 close a section each, so 壹亿贰仟万 is 1e8 + 2000e4, not (1e8 + 2000) * 1e4.
    hundred_millions = ten_thousands = section = digit = 0
    for ch in integer_part:
        if ch in _CN_DIGITS:
            digit = _CN_DIGITS[ch]
        elif ch in _CN_SMALL_UNITS:
            section += (digit or 1) * _CN_SMALL_UNITS[ch]
            digit = 0
        elif _CN_BIG_UNITS[ch] == 10_000:
            ten_thousands += (section + digit) * 10_000
            section = digit = 0
        else:
            hundred_millions += (ten_thousands + section + digit) * 100_000_000
            ten_thousands = section = digit = 0
    total = Decimal(hundred_millions + ten_thousands + section + digit)
    digit = 0
    for ch in fraction_part:
        if ch in _CN_DIGITS:
            digit = _CN_DIGITS[ch]
        elif ch in _CN_FRACTION:
            total += digit * _CN_FRACTION[ch]
            digit = 0
        else:
            return None
    return total


def normalize_amount(text: str) -> str | None:
    """``¥12,345.60`` / ``12345.6元`` / ``壹万贰仟元整`` → ``"12345.60"``; None if unreadable."""
    folded = normalize_text(text).replace(" ", "")
    folded = re.sub(r"^(人民币|RMB|CNY)[:：]?", "", folded, flags=re.IGNORECASE)
    chinese = _parse_chinese_amount(folded)
    if chinese is not None:
        return str(chinese.quantize(Decimal("0.01")))
    digits = folded.replace(",", "").replace("¥", "").replace("￥", "")
    match = _NUMERIC_AMOUNT.search(digits)
    if not match:
        return None
    try:
        value = Decimal(match.group())
    except InvalidOperation:
        return None
    if value < 0:
        return None
    return str(value.quantize(Decimal("0.01")))


# --- resident ID number (GB 11643-1999) ------------------------------------

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK_CHARS = "10X98765432"
# Province-level prefixes of GB/T 2260 (83 = residence permits of Taiwan residents).
_ID_PROVINCES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 "
    "50 51 52 53 54 61 62 63 64 65 71 81 82 83".split()
)
_EARLIEST_BIRTH = date(1900, 1, 1)


@dataclass(frozen=True)
class IdNumberCheck:
    valid: bool
    reason: str | None = None
    normalized: str | None = None
    sex: str | None = None  # "男" | "女"
    birth_date: str | None = None  # ISO


def id_check_char(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character for the first 17 digits."""
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK_CHARS[total % 11]


def normalize_id_number(text: str) -> str:
    return normalize_text(text).replace(" ", "").upper()


def check_id_number(text: str, *, today: date | None = None) -> IdNumberCheck:
    """Validate an 18-character resident ID number and read its sex and birth date."""
    number = normalize_id_number(text)
    if len(number) == 15 and number.isdigit():
        return IdNumberCheck(
            False, "old 15-digit number; an 18-character number is required", number
        )
    if len(number) != 18:
        return IdNumberCheck(False, f"has {len(number)} characters, expected 18", number)
    if not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        return IdNumberCheck(False, "must be 17 digits followed by a digit or X", number)
    if number[:2] not in _ID_PROVINCES:
        return IdNumberCheck(False, f"region code {number[:6]} is not a Chinese region", number)
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return IdNumberCheck(False, f"birth date {number[6:14]} is not a calendar date", number)
    if not _EARLIEST_BIRTH <= born <= (today or date.today()):
        return IdNumberCheck(False, f"birth date {born.isoformat()} is implausible", number)
    expected = id_check_char(number[:17])
    if number[17] != expected:
        return IdNumberCheck(
            False,
            f"check character is {number[17]}, the number's digits require {expected}",
            number,
        )
    sex = "男" if int(number[16]) % 2 else "女"
    return IdNumberCheck(True, None, number, sex, born.isoformat())


# --- VIN (ISO 3779, GB 16735) ----------------------------------------------

_VIN_VALUES = {
    **{str(d): d for d in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
_VIN_CONFUSABLES = str.maketrans({"I": "1", "O": "0", "Q": "0"})


@dataclass(frozen=True)
class VinCheck:
    valid: bool
    reason: str | None = None
    normalized: str | None = None
    check_digit_verified: bool = False


def fix_vin_chars(text: str) -> str:
    """Upper-case, drop separators, and map I/O/Q (never legal in a VIN) to 1/0/0."""
    folded = re.sub(r"[\s\-·.]", "", normalize_text(text)).upper()
    return folded.translate(_VIN_CONFUSABLES)


def vin_check_digit(vin: str) -> str:
    """The position-9 check digit of a 17-character VIN (``X`` stands for 10)."""
    total = sum(_VIN_VALUES[ch] * w for ch, w in zip(vin, _VIN_WEIGHTS, strict=True))
    remainder = total % 11
    return "X" if remainder == 10 else str(remainder)


def check_vin(text: str) -> VinCheck:
    """Validate a VIN; the check digit is mandatory for Chinese (``L…``) WMIs."""
    vin = re.sub(r"[\s\-·.]", "", normalize_text(text)).upper()
    if len(vin) != 17:
        return VinCheck(False, f"has {len(vin)} characters, expected 17", vin)
    illegal = sorted({ch for ch in vin if ch in "IOQ"})
    if illegal:
        return VinCheck(False, f"contains {', '.join(illegal)}, which a VIN never uses", vin)
    bad = sorted({ch for ch in vin if ch not in _VIN_VALUES})
    if bad:
        return VinCheck(False, f"contains characters {''.join(bad)!r} that a VIN cannot hold", vin)
    expected = vin_check_digit(vin)
    if vin[8] == expected:
        return VinCheck(True, None, vin, check_digit_verified=True)
    if vin.startswith("L"):
        return VinCheck(
            False, f"check digit (position 9) is {vin[8]}, the VIN requires {expected}", vin
        )
    # Outside China (and North America) the check digit is optional under ISO 3779.
    return VinCheck(True, None, vin, check_digit_verified=False)


# --- number plates (GA 36) -------------------------------------------------

PROVINCE_ABBREVIATIONS = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
# Letters used on plates: the authority letter and serials never use I or O.
_PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
_PLATE_ALNUM = _PLATE_LETTERS + "0123456789"
_ORDINARY_SUFFIXES = "挂学"  # trailer and driving-school plates keep the 7-character shape


@dataclass(frozen=True)
class PlateCheck:
    valid: bool
    reason: str | None = None
    normalized: str | None = None
    kind: str | None = None  # "ordinary" | "new_energy"


def normalize_plate(text: str) -> str:
    """Drop the printed separator dot (or what OCR makes of it) and spaces,
    upper-case the Latin part."""
    return re.sub(r"[\s·.\-|]", "", normalize_text(text)).upper()


def check_plate(text: str) -> PlateCheck:
    """Validate a civilian plate: 7 characters ordinary, 8 characters new-energy."""
    plate = normalize_plate(text)
    if len(plate) not in (7, 8):
        return PlateCheck(False, f"has {len(plate)} characters, expected 7 or 8", plate)
    if plate[0] not in PROVINCE_ABBREVIATIONS:
        return PlateCheck(False, f"{plate[0]!r} is not a province abbreviation", plate)
    if plate[1] not in _PLATE_LETTERS:
        return PlateCheck(
            False, "the second character must be the issuing authority's letter", plate
        )
    serial = plate[2:]
    if len(plate) == 7:
        body = serial[:-1] if serial[-1] in _ORDINARY_SUFFIXES else serial
        if all(ch in _PLATE_ALNUM for ch in body):
            return PlateCheck(True, None, plate, "ordinary")
        return PlateCheck(False, "the serial may only use digits and letters other than I/O", plate)
    # New-energy: small vehicles put D (electric) / F (hybrid) first and end in four
    # digits; large vehicles use five digits and put D/F last.
    small = serial[0] in "DF" and serial[1] in _PLATE_ALNUM and serial[2:].isdigit()
    large = serial[:5].isdigit() and serial[5] in "DF"
    if small or large:
        return PlateCheck(True, None, plate, "new_energy")
    return PlateCheck(
        False, "an 8-character plate needs D/F at the third position or at the end", plate
    )
