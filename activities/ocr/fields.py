"""What each OCR field key looks like: how to cut its value out of the text
that follows a label, how to normalise it, and how to judge it.

Pickers take the raw text after a label (which may carry neighbouring debris,
``张三/居民身份证/1101…`` or ``张三(身份证号``) and return the normalised value
or None.  Validators return None when the value is acceptable, else a reason
in plain words.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from models.identity import (
    PROVINCE_ABBREVIATIONS,
    check_id_number,
    check_plate,
    check_vin,
    fix_vin_chars,
    normalize_amount,
    normalize_plate,
    parse_date,
)

CJK = "\u4e00-\u9fff"

ETHNIC_GROUPS = frozenset(
    "汉 蒙古 回 藏 维吾尔 苗 彝 壮 布依 朝鲜 满 侗 瑶 白 土家 哈尼 哈萨克 傣 黎 傈僳 佤 畲 高山 "
    "拉祜 水 东乡 纳西 景颇 柯尔克孜 土 达斡尔 仫佬 羌 布朗 撒拉 毛南 仡佬 锡伯 阿昌 普米 塔吉克 "
    "怒 乌孜别克 俄罗斯 鄂温克 德昂 保安 裕固 京 塔塔尔 独龙 鄂伦春 赫哲 门巴 珞巴 基诺".split()
)
_INSTITUTION = re.compile(rf"[{CJK}()]{{2,40}}(银行|分行|支行|公司|合作社|信用社|中心)(有限公司)?$")


def _compact(text: str) -> str:
    return re.sub(r"\s+", "", text)


# --- pickers ---------------------------------------------------------------


def pick_name(text: str) -> str | None:
    head = re.split(r"[/|(:;,]", text.strip(), maxsplit=1)[0].strip()
    if re.fullmatch(r"[A-Za-z][A-Za-z .'-]{1,40}", head):
        return head  # a foreign name, spaces and all
    head = _compact(head)
    match = re.match(rf"[{CJK}·]{{2,20}}", head)
    return match.group() if match else (head or None)


def pick_id_number(text: str) -> str | None:
    compact = _compact(text).upper().replace("×", "X")
    # Only digits and X are legal, so letter look-alikes are the OCR's mistake.
    compact = compact.translate(str.maketrans({"O": "0", "I": "1", "L": "1", "|": "1"}))
    runs = re.findall(r"[0-9X]{15,}", compact)
    if not runs:
        return None
    exact = [r for r in runs if len(r) == 18]
    return (exact or runs)[0]


def pick_sex(text: str) -> str | None:
    match = re.search("[男女]", text)
    return match.group() if match else None


def pick_ethnicity(text: str) -> str | None:
    head = re.match(rf"[{CJK}]+", _compact(text))
    if not head:
        return None
    word = head.group()
    # The longest known group, earliest first: 蒙古族 reads 蒙古, 汉性别 reads 汉,
    # and a stray character in front (方汉) is passed over.
    for start in range(min(len(word), 2)):
        for size in range(min(len(word) - start, 5), 0, -1):
            if word[start : start + size] in ETHNIC_GROUPS:
                return word[start : start + size]
    word = word.removesuffix("族")
    # A closed list: one misread character (专家 for 土家) has a single answer.
    near = [g for g in ETHNIC_GROUPS if len(g) == len(word) > 1 and _one_substitution(g, word)]
    return near[0] if len(near) == 1 else word


def _one_substitution(a: str, b: str) -> bool:
    return sum(x != y for x, y in zip(a, b, strict=True)) == 1


def pick_date(text: str) -> str | None:
    parsed = parse_date(text)
    return parsed.isoformat() if parsed else None


def pick_free_text(text: str) -> str | None:
    value = _compact(text).strip(":;,.-")
    return value or None


_PROVINCES = (
    "北京 天津 上海 重庆 河北 山西 辽宁 吉林 黑龙江 江苏 浙江 安徽 福建 江西 山东 河南 湖北 湖南 "
    "广东 海南 四川 贵州 云南 陕西 甘肃 青海 台湾 内蒙古 广西 西藏 宁夏 新疆 香港 澳门"
).split()


def pick_address(text: str) -> str | None:
    value = pick_free_text(text)
    if not value:
        return None
    # Addresses start with the province; a character or two before it is debris
    # (a seal fragment, a pattern line read as 一).
    starts = [value.find(p) for p in _PROVINCES if 0 < value.find(p) <= 2]
    return value[min(starts) :] if starts else value


def pick_contract_no(text: str) -> str | None:
    match = re.search(r"[A-Za-z0-9][A-Za-z0-9\-_/]{3,39}", _compact(text))
    return match.group().upper() if match else None


def pick_plate(text: str) -> str | None:
    compact = normalize_plate(text)
    match = re.search(rf"[{PROVINCE_ABBREVIATIONS}][A-Z0-9][A-Z0-9]{{4,6}}[挂学]?", compact)
    if not match:
        return compact or None
    # Serials never use I or O, so those are misread digits.
    plate = match.group()
    plate = plate[:2] + plate[2:].translate(str.maketrans({"I": "1", "O": "0"}))
    if check_plate(plate).valid:
        return plate
    # The separator dot (京A·12345) is often read as a stray I, 1 or -.
    rest = compact[match.start() :]
    for position in (1, 2):
        if len(rest) > position and rest[position] in "I1L|-:":
            repaired = pick_plate(rest[:position] + rest[position + 1 :])
            if repaired and check_plate(repaired).valid:
                return repaired
    return plate


def pick_vin(text: str) -> str | None:
    fixed = fix_vin_chars(text)
    # Seal remnants can land between the characters; read the alphanumerics alone
    # too, but only believe that reading if its check digit agrees.
    spliced = re.sub(r"[^A-Z0-9]", "", fixed)
    windows = [spliced[i : i + 17] for i in range(max(len(spliced) - 16, 0))]
    verified = [w for w in windows if check_vin(w).check_digit_verified]
    if verified:
        return verified[0]
    match = re.search(r"[A-HJ-NPR-Z0-9]{17}", fixed)
    if match:
        return match.group()
    runs = re.findall(r"[A-Z0-9]{10,}", fixed)
    return max(runs, key=len) if runs else None


def pick_engine_no(text: str) -> str | None:
    match = re.search(r"[A-Za-z0-9][A-Za-z0-9\-]{3,19}", _compact(text))
    return match.group().upper() if match else None


def pick_lender(text: str) -> str | None:
    value = re.split(r"[/|:;,]", _compact(text), maxsplit=1)[0]
    return value.strip("()") or None


# --- repairs: undo a likely misreading, only when a check digit proves it ---


# Japanese, Korean and European makers often leave position 9 unused; elsewhere
# (China and North America by law) a wrong check digit means a misread VIN.
_CHECK_DIGIT_OPTIONAL = "JKSTUVWXYZ"


def doubt_vin(value: str) -> str | None:
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
    compact = _compact(text).upper()
    return [m for m in re.findall(r"(?<![0-9A-Z])[0-9]{17}[0-9X](?![0-9A-Z])", compact)
            if check_id_number(m).valid]  # fmt: skip


def scan_vins(text: str) -> list[str]:
    runs = re.findall(r"(?<![A-Z0-9])[A-Z0-9]{17}(?![A-Z0-9])", _compact(text).upper())
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
    for match in _SETTLED_NEAR_DATE.finditer(_compact(text)):
        value = pick_date(match["a"] or match["b"])
        if value:
            found.append(value)
    return found


def scan_any_date(text: str) -> list[str]:
    value = pick_date(text)
    return [value] if value else []


def scan_lenders(text: str) -> list[str]:
    compact = _compact(text).strip("()")
    return [compact] if _INSTITUTION.fullmatch(compact) and valid_lender(compact) is None else []


@dataclass(frozen=True)
class FieldSpec:
    key: str
    title: str  # how issues name the field
    pick: Callable[[str], str | None]
    validate: Callable[[str], str | None]
    scan: Callable[[str], list[str]] | None = None
    multiline: bool = False
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
        FieldSpec("address", "address", pick_address, valid_address, multiline=True),
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
