"""Pickers: cut a field's value out of the text that follows its label.

That text may carry neighbouring debris (``张三/居民身份证/1101…``,
``张三(身份证号``, a seal fragment); each picker returns the normalised value
or None.  Whether the value is acceptable is the validators' business
(``fields.py``).
"""

from __future__ import annotations

import re

from models.identity import (
    PROVINCE_ABBREVIATIONS,
    check_id_number,
    check_plate,
    check_vin,
    fix_vin_chars,
    normalize_plate,
    parse_date,
)

CJK = "\u4e00-\u9fff"

ETHNIC_GROUPS = frozenset(
    "汉 蒙古 回 藏 维吾尔 苗 彝 壮 布依 朝鲜 满 侗 瑶 白 土家 哈尼 哈萨克 傣 黎 傈僳 佤 畲 高山 "
    "拉祜 水 东乡 纳西 景颇 柯尔克孜 土 达斡尔 仫佬 羌 布朗 撒拉 毛南 仡佬 锡伯 阿昌 普米 塔吉克 "
    "怒 乌孜别克 俄罗斯 鄂温克 德昂 保安 裕固 京 塔塔尔 独龙 鄂伦春 赫哲 门巴 珞巴 基诺".split()
)


def squeeze(text: str) -> str:
    """The text without any whitespace (OCR inserts spaces between wide glyphs)."""
    return re.sub(r"\s+", "", text)


def pick_name(text: str) -> str | None:
    head = re.split(r"[/|(:;,]", text.strip(), maxsplit=1)[0].strip()
    if re.fullmatch(r"[A-Za-z][A-Za-z .'-]{1,40}", head):
        return head  # a foreign name, spaces and all
    head = squeeze(head)
    match = re.match(rf"[{CJK}·]{{2,20}}", head)
    if not match:
        return head or None
    name = match.group()
    # Running text: 借款人张三先生 / 借款人张三于2025年… ; names do not end so.
    name = re.sub("(先生|女士|小姐|同志)$", "", name)
    if len(name) > 2 and name[-1] in "于在已的向与和":
        name = name[:-1]
    return name


def pick_id_number(text: str) -> str | None:
    compact = squeeze(text).upper().replace("×", "X")
    # Only digits and X are legal, so letter look-alikes are the OCR's mistake.
    compact = compact.translate(str.maketrans({"O": "0", "I": "1", "L": "1", "|": "1"}))
    runs = re.findall(r"[0-9X]{15,}", compact)
    if not runs:
        return None
    exact = [r for r in runs if len(r) == 18]
    if exact:
        return exact[0]
    # A stray digit glued on (a seal fragment read as 3): believe an 18-character
    # window only if its check character proves it.
    windows = [r[i : i + 18] for r in runs if len(r) > 18 for i in range(len(r) - 17)]
    verified = [w for w in windows if check_id_number(w).valid]
    return verified[0] if len(verified) == 1 else runs[0]


def pick_sex(text: str) -> str | None:
    match = re.search("[男女]", text)
    return match.group() if match else None


def pick_ethnicity(text: str) -> str | None:
    head = re.match(rf"[{CJK}]+", squeeze(text))
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
    value = squeeze(text).strip(":;,.-")
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
    match = re.search(r"[A-Za-z0-9][A-Za-z0-9\-_/]{3,39}", squeeze(text))
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
    match = re.search(r"[A-Za-z0-9][A-Za-z0-9\-]{3,19}", squeeze(text))
    return match.group().upper() if match else None


def pick_lender(text: str) -> str | None:
    value = re.split(r"[/|:;,]", squeeze(text), maxsplit=1)[0]
    return value.strip("()") or None
