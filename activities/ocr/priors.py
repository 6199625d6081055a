"""Priors: what real documents make likely, used to doubt an unlikely reading.

A value can pass its own check and still be misread: 禁勇而 for 黎勇雨 is a
well-formed name, 京A8B123 for 京A88123 a well-formed plate.  A prior compares
a value with what documents hold in practice (surnames people carry, the
positions a plate keeps for letters) and with its look-alike readings, and says
what it finds as a ``FieldDoubt``.  A prior never changes a value: the person
reviewing the document decides which reading is right.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

from pydantic import BaseModel

from activities.ocr.fields import FIELDS, valid_contract_no, valid_engine_no
from activities.ocr.pickers import CJK
from models.crosscheck import dropped_characters
from models.identity import check_plate

# PP-OCR scores a cleanly printed character 0.95 and more; a look-alike read
# below this is worth a look when its other reading is just as plausible.  On
# 240 tuning documents, engine numbers misread O as 0 scored 0.92-0.95 on the
# wrong character as often as under 0.9; see docs/ocr.md "Priors" for the trade.
CONFUSABLE_SCORE_FLOOR = 0.93
# GA 36-2018: an ordinary plate's five-character serial holds at most two letters.
MAX_PLATE_SERIAL_LETTERS = 2

__all__ = [
    "CJK_LOOKALIKES",
    "CODE_LOOKALIKES",
    "CONFUSABLE_SCORE_FLOOR",
    "FieldDoubt",
    "Surnames",
    "confusable_doubts",
    "field_doubts",
    "name_doubts",
    "parse_surnames",
    "shorter_than_id",
    "surnames",
]


class FieldDoubt(BaseModel):
    """Why a value that passed its own checks still deserves a person's look.

    ``kind`` is one of ``second_reading`` (another engine read the crop
    differently), ``unknown_surname`` (the name starts with no known surname),
    ``surname_only`` (the name is a surname and nothing else), ``shorter_than_id``
    (a name shorter than the one on the case's ID card), ``confusable`` (a
    look-alike character whose other reading is also plausible); ``alternative``
    is the other reading when there is one. A doubt never changes ``value``: it
    only flags it."""

    kind: str
    detail: str
    alternative: str | None = None


# --- surnames ---------------------------------------------------------------


@dataclass(frozen=True)
class Surnames:
    """The surname table (``data/surnames.txt``): frequent single-character
    surnames, rarer ones, and compound (two-character) ones."""

    common: frozenset[str]
    rare: frozenset[str]
    compound: frozenset[str]

    def known(self, char: str) -> bool:
        return char in self.common or char in self.rare


def parse_surnames(text: str) -> Surnames:
    """Read the table's sections; a rare surname is any listed single one not common."""
    sections: dict[str, set[str]] = {}
    current: set[str] | None = None
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        heading = re.fullmatch(r"\[(\w+)\]", line)
        if heading:
            current = sections.setdefault(heading.group(1), set())
        elif current is not None:
            current.update(line.split())
    common = frozenset(sections.get("common", ()))
    singles = sections.get("classic", set()) | sections.get("other", set())
    return Surnames(common, frozenset(singles - common), frozenset(sections.get("compound", ())))


@cache
def surnames() -> Surnames:
    table = files("activities.ocr") / "data" / "surnames.txt"
    return parse_surnames(table.read_text(encoding="utf-8"))


def _pairs(table: str) -> dict[str, frozenset[str]]:
    """Each pair read both ways: either character may be the one misread."""
    alike: dict[str, set[str]] = {}
    for pair in table.split():
        a, b = pair
        alike.setdefault(a, set()).add(b)
        alike.setdefault(b, set()).add(a)
    return {char: frozenset(others) for char, others in alike.items()}


# Glyphs PP-OCR mistakes for one another (a stroke or a radical more or less,
# a component drawn alike), each with a surname on at least one side; the last
# row holds misreadings seen on the tuning corpus (郇 read as 邹, 訾 as 警).
CJK_LOOKALIKES = _pairs("""
    王玉 王壬 王主 张弦 张涨 李季 李孛 刘浏 刘划 陈阵 陈陆 杨扬 杨场 汤场 汤扬
    赵起 赵赶 黄寅 黄黃 周同 周用 吴昊 徐徙 徐涂 孙逊 马乌 马冯 朱未 朱末 朱米
    胡湖 郭廓 何可 何河 高膏 高亭 林材 林淋 罗萝 罗岁 郑掷 梁粱 谢榭 谢射 宋宗
    唐塘 唐庸 许浒 许计 韩朝 邓双 曹曾 曹槽 彭膨 彭澎 曾增 肖消 肖背 田由 田甲
    田申 董堇 袁哀 袁表 潘番 于干 于千 蒋将 蔡祭 蔡察 余佘 杜社 叶计 叶什 程呈
    苏办 魏巍 吕品 吕宫 丁了 任仕 任仁 沈沉 沈冼 姚桃 姚挑 卢户 卢芦 姜美 姜娄
    崔催 崔崖 钟种 谭潭 谭覃 陆际 汪注 汪江 范苑 金全 石右 廖寥 贾贯 夏复 韦苇
    韦伟 付附 付讨 方万 白自 白百 邹刍 孟盂 熊能 秦奏 秦泰 邱丘 邱邸 江红 江汇
    尹伊 尹尸 薛薜 闫闩 闫问 闫闪 段殷 雷雪 雷擂 侯候 侯猴 龙尤 史吏 史央 陶淘
    陶掏 黎犁 黎梨 黎禁 贺货 顾硕 顾项 毛手 郝赫 郝郗 龚袭 龚聋 邵召 邵绍 钱线
    钱浅 严产 严亚 覃草 武式 戴载 戴栽 莫漠 莫模 孔扎 孔礼 向问 向同 常党 辛幸
    苟荀 粟栗 丛从 农衣 管菅 屈居 宫官 冉再 蒲浦 郎朗 米来 古占 明朋 仇仉 乔侨
    牛午 柯珂 章童 纪记 舒舍 葛曷 祝况 包句 岳丘 郇郁 郇邹 郁邹 冼洗 乜也 仝全
    逯逐 訾警 蒯前 仉机
""")

_HAN_NAME = re.compile(f"[{CJK}]+")


def name_doubts(name: str, scores: Sequence[float] = ()) -> list[FieldDoubt]:
    """Doubts about a Han name's surname (``scores``: one per character, if known).

    Nearly every Han name starts with one of a few hundred surnames, so a first
    character that is none of them was likely misread (禁 for 黎) or the
    surname lost (婷宇 for 逯婷宇); a look-alike that is one is named as the
    alternative.  A rare surname that looks like a common one (干 and 于) is
    doubted too, the misreading being likelier than the rare name; and so is
    any surname read unsurely when a look-alike is a surname as well (邹 at
    0.55 for 郇).  Names in Latin letters or transliterated with · carry no Han
    surname and are left alone."""
    if not _HAN_NAME.fullmatch(name):
        return []
    table = surnames()
    if len(name) == 1 or name in table.compound:
        return [
            FieldDoubt(kind="surname_only", detail=f"'{name}' is a surname without a given name")
        ]
    if name[:2] in table.compound:
        return []
    first, rest = name[0], name[1:]
    alike = sorted(CJK_LOOKALIKES.get(first, ()), key=lambda c: (c not in table.common, c))
    known = [c for c in alike if table.known(c)]
    unsure = len(scores) == len(name) and scores[0] < CONFUSABLE_SCORE_FLOOR
    if table.known(first) and unsure and known:
        detail = f"'{first}' (score {scores[0]:.2f}) may be the surname '{known[0]}'"
        return [FieldDoubt(kind="confusable", detail=detail, alternative=known[0] + rest)]
    if first in table.common:
        return []
    if first in table.rare:
        common = [c for c in alike if c in table.common]
        if not common:
            return []
        return [
            FieldDoubt(
                kind="confusable",
                detail=f"'{first}' is a rare surname that looks like the common '{common[0]}'",
                alternative=common[0] + rest,
            )
        ]
    detail = f"'{first}' is not a known surname"
    if known:
        detail += f"; '{known[0]}' looks alike and is one"
    return [
        FieldDoubt(
            kind="unknown_surname", detail=detail, alternative=known[0] + rest if known else None
        )
    ]


def shorter_than_id(name: str, id_card_name: str) -> FieldDoubt | None:
    """A name that is the ID card's with characters left out (张丰 for 张三丰).

    OCR drops a character far more often than a document misprints the
    borrower, so this is a doubt on the shorter reading, not a different person."""
    if not dropped_characters(name, id_card_name):
        return None
    return FieldDoubt(
        kind="shorter_than_id",
        detail=f"'{name}' is shorter than the ID card's '{id_card_name}'; a character may be lost",
        alternative=id_card_name,
    )


# --- look-alike characters in codes -----------------------------------------

# Latin letters and digits PP-OCR confuses in print.  VINs and ID numbers are
# not judged here: their check digit decides (``fields.py``).
CODE_LOOKALIKES = _pairs("0O 0D 0Q OD OQ 1I 1L IL 8B 2Z 5S 6G UV")


def _kind(char: str) -> str:
    return "digit" if char.isdigit() else "letter" if char.isalpha() else "other"


def _fits_neighbours(text: str, i: int) -> bool:
    """Codes run letters then digits (TGL55091252, HX2023…): a character is
    plausible where a neighbour is of its kind, not alone in a run of the other."""
    neighbours = [text[j] for j in (i - 1, i + 1) if 0 <= j < len(text)]
    return any(_kind(n) == _kind(text[i]) for n in neighbours) or not neighbours


def _plausible_plate(plate: str, i: int) -> bool:
    check = check_plate(plate)
    if not check.valid:
        return False
    if check.kind == "ordinary":
        return sum(ch.isalpha() for ch in plate[2:7]) <= MAX_PLATE_SERIAL_LETTERS
    return True


def _plausible_code(validate: Callable[[str], str | None]) -> Callable[[str, int], bool]:
    def plausible(value: str, i: int) -> bool:
        return validate(value) is None and _fits_neighbours(value, i)

    return plausible


def _plausible_engine_no(value: str, i: int) -> bool:
    # Serials mix in letters anywhere (G4FC19BO0DY), so only the shape limits them.
    return valid_engine_no(value) is None


# Which fields are judged, and what makes a reading of one plausible.
_PLAUSIBLE: dict[str, Callable[[str, int], bool]] = {
    "plate_no": _plausible_plate,
    "engine_no": _plausible_engine_no,
    "contract_no": _plausible_code(valid_contract_no),
}


def confusable_doubts(key: str, value: str, scores: Sequence[float]) -> list[FieldDoubt]:
    """Look-alike readings of ``value`` that its field would accept just as well.

    Most codes hold an 8 or a 0 that could have been a B or a D, so only a
    character the engine was not sure of (below ``CONFUSABLE_SCORE_FLOOR``) is
    considered, and only a swap that the field's own rules allow (a plate keeps
    its authority letter and never uses O or I; codes run letters then digits).
    ``scores`` holds one score per character of ``value``."""
    plausible = _PLAUSIBLE.get(key)
    if plausible is None or len(scores) != len(value):
        return []
    title = FIELDS[key].title
    doubts = []
    for i, (char, score) in enumerate(zip(value, scores, strict=True)):
        if score >= CONFUSABLE_SCORE_FLOOR:
            continue
        for other in sorted(CODE_LOOKALIKES.get(char, ())):
            reading = value[:i] + other + value[i + 1 :]
            if plausible(reading, i):
                detail = (
                    f"'{char}' (character {i + 1}, score {score:.2f}) may be '{other}': "
                    f"{reading} is as plausible a {title}"
                )
                doubts.append(FieldDoubt(kind="confusable", detail=detail, alternative=reading))
    return doubts


def field_doubts(key: str, value: str, scores: Sequence[float]) -> list[FieldDoubt]:
    """Every prior's doubts about a value that passed its field's own check."""
    if key == "name":
        return name_doubts(value, scores)
    return confusable_doubts(key, value, scores)
