"""The ways printed forms lay out label/value pairs: one per line, two per
line, a bordered table, the label above its value, labels at a tab stop, a
table whose header row holds the labels, values on ruled lines or in one box
per character.  Every style writes onto a ``Page`` and records where each
value landed."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import date

from simulators.docdraw import Page

LABEL_GREY = (90, 90, 90)


# --- how values are printed ---


def date_text(iso: str, rng: random.Random) -> str:
    d = date.fromisoformat(iso)
    return rng.choice(
        (f"{d.year}年{d.month:02d}月{d.day:02d}日", f"{d.year}年{d.month}月{d.day}日",
         d.isoformat(), f"{d.year}.{d.month}.{d.day}", f"{d:%Y/%m/%d}")
    )  # fmt: skip


def amount_text(amount: str, rng: random.Random) -> str:
    whole, cents = amount.split(".")
    grouped = f"{int(whole):,}.{cents}"
    return rng.choice((f"¥{grouped}", f"{amount}元", f"人民币{grouped}元", f"{grouped}元"))


def split_brand(brand_model: str) -> tuple[str, str]:
    match = re.match(r"(.*?牌)(.+)", brand_model)
    return (match[1], match[2]) if match else (brand_model, "")


# --- how label/value pairs are laid out ---


@dataclass(frozen=True)
class Item:
    label: str
    value: str
    key: str | None = None  # the OCR field key whose truth this value is


@dataclass(frozen=True)
class Style:
    size: int = 30  # font size of values, px
    colon: str = "："  # "：", ":" or "" (then a gap separates label and value)
    line_gap: float = 1.9  # line pitch in font sizes
    spaced: bool = False  # letter-space two-character labels
    justify: bool = False  # spread short labels to four characters' width (姓　　名)


def _label_text(label: str, style: Style) -> str:
    # Two-character labels are often letter-spaced on printed forms (姓　名).
    if style.justify and len(label) in (2, 3):
        label = (label[0] + "\u3000\u3000" + label[1]) if len(label) == 2 else " ".join(label)
    elif style.spaced and len(label) == 2:
        label = label[0] + "\u3000" + label[1]
    return label + style.colon if style.colon else label


def _gap(style: Style) -> int:
    return style.size // 4 if style.colon else style.size


def inline(page: Page, items: list[Item], top: int, left: int, style: Style) -> int:
    """``label：value`` one per line; returns the y below the block."""
    y = top
    for item in items:
        box = page.text((left, y), _label_text(item.label, style), style.size)
        page.text((box[2] + _gap(style), y), item.value, style.size, key=item.key)
        y += round(style.size * style.line_gap)
    return y


def pairs(page: Page, items: list[Item], top: int, left: int, style: Style) -> int:
    """Two ``label value`` pairs per line, the second starting mid-page; a pair
    too long to share its line gets one of its own."""
    width = page.size[0]
    column = left + (width - 2 * left) // 2 + style.size
    pitch = round(style.size * style.line_gap)
    y, slot = top, 0
    for item in items:
        label = _label_text(item.label, style)
        needed = page.width_of(label + item.value, style.size) + _gap(style)
        if slot == 1 and column + needed > width - style.size:
            y, slot = y + pitch, 0
        x = left if slot == 0 else column
        box = page.text((x, y), label, style.size)
        end = page.text((box[2] + _gap(style), y), item.value, style.size, key=item.key)[2]
        if slot == 0 and end < column - style.size:
            slot = 1
        else:
            y, slot = y + pitch, 0
    return y + (pitch if slot else 0)


def _fit(page: Page, text: str, size: int, room: int, smallest: int = 16) -> int:
    """The largest font size up to ``size`` at which ``text`` fits in ``room`` px."""
    while size > smallest and page.width_of(text, size) > room:
        size -= 1
    return size


def grid(page: Page, items: list[Item], top: int, left: int, style: Style, per_row: int = 2) -> int:
    """A bordered table of label and value cells, ``per_row`` pairs a row; a pair
    too long for its share of the row gets the whole row, as real forms do."""
    width = page.size[0] - 2 * left
    pad = style.size // 3
    pair_width = width // per_row
    label_width = min(
        max(page.width_of(item.label, style.size - 4) for item in items) + 2 * pad,
        pair_width * 9 // 20,
    )
    row_height = round(style.size * 2.1)

    def cell(item: Item, x: int, y: int, span: int) -> None:
        value_width = span - label_width
        page.rect((x, y, x + label_width, y + row_height))
        page.rect((x + label_width, y, x + span, y + row_height))
        middle = y + row_height // 2
        label_size = _fit(page, item.label, style.size - 4, label_width - 2 * pad)
        page.text((x + pad, middle), item.label, label_size, LABEL_GREY, anchor="lm")
        size = _fit(page, item.value, style.size, value_width - 2 * pad)
        page.text((x + label_width + pad, middle), item.value, size, key=item.key, anchor="lm")

    def fits(item: Item) -> bool:
        return page.width_of(item.value, 18) <= pair_width - label_width - 2 * pad

    y, slot = top, 0
    for item in items:
        if per_row > 1 and not fits(item):
            y, slot = (y + row_height, 0) if slot else (y, 0)
            cell(item, left, y, width)
            y += row_height
            continue
        cell(item, left + slot * pair_width, y, pair_width)
        slot += 1
        if slot == per_row:
            y, slot = y + row_height, 0
    return y + (row_height if slot else 0)


def stacked(page: Page, items: list[Item], top: int, left: int, style: Style) -> int:
    """Small grey label with its value underneath, two columns."""
    width = page.size[0] - 2 * left
    y = top
    for i in range(0, len(items), 2):
        for j, item in enumerate(items[i : i + 2]):
            x = left + j * (width // 2)
            page.text((x, y), _label_text(item.label, style), style.size - 6, LABEL_GREY)
            size = style.size
            while size > 14 and page.width_of(item.value, size) > width // 2 - style.size:
                size -= 1
            page.text((x, y + round(style.size * 1.3)), item.value, size, key=item.key)
        y += round(style.size * 3.3)
    return y


def paragraph(
    page: Page, tokens: list[Item], top: int, left: int, style: Style, indent: bool = True
) -> int:
    """Running text; tokens never break across lines, so values stay whole.

    Tokens are (text, "", key): ``label`` is the text to print.
    """
    right = page.size[0] - left
    x, y = left + (2 * style.size if indent else 0), top
    pitch = round(style.size * style.line_gap)
    for token in tokens:
        width = page.width_of(token.label, style.size)
        if x + width > right and x > left:
            x, y = left, y + pitch
        box = page.text((x, y), token.label, style.size, key=token.key)
        x = box[2] + (style.size // 8 if token.key else 0)
    return y + pitch


def aligned(
    page: Page, items: list[Item], top: int, left: int, style: Style, right_labels: bool = False
) -> int:
    """Labels in a column (flush left or flush right), values at one tab stop."""
    labels = [_label_text(item.label, style) for item in items]
    column = max(page.width_of(label, style.size) for label in labels)
    stop = left + column + _gap(style) + style.size // 2
    y = top
    for item, label in zip(items, labels, strict=True):
        x = left + column - page.width_of(label, style.size) if right_labels else left
        page.text((x, y), label, style.size)
        page.text((stop, y), item.value, _fit(page, item.value, style.size, page.size[0] - stop - left),
                  key=item.key)  # fmt: skip
        y += round(style.size * style.line_gap)
    return y


def ruled(
    page: Page, items: list[Item], top: int, left: int, style: Style, columns: int = 1
) -> int:
    """Small label above, value written on a ruled line beneath it, as on a
    form filled in; ``columns`` fields side by side."""
    width = (page.size[0] - 2 * left) // columns
    y = top
    for i in range(0, len(items), columns):
        for j, item in enumerate(items[i : i + columns]):
            x = left + j * width
            page.text((x, y), _label_text(item.label, style), style.size - 8, LABEL_GREY)
            value_y = y + round(style.size * 1.2)
            size = _fit(page, item.value, style.size, width - 2 * style.size)
            page.text((x + style.size // 3, value_y), item.value, size, key=item.key)
            rule = value_y + round(style.size * 1.35)
            page.line((x, rule), (x + width - style.size, rule), fill=(120, 120, 120), width=1)
        y += round(style.size * 3.4)
    return y


def header_table(
    page: Page, items: list[Item], top: int, left: int, style: Style, per_band: int = 3
) -> int:
    """A ruled table whose header row holds the labels and the row beneath the
    values, ``per_band`` columns a band."""
    width = page.size[0] - 2 * left
    column = width // per_band
    row = round(style.size * 1.9)
    pad = style.size // 3
    y = top
    for i in range(0, len(items), per_band):
        band = items[i : i + per_band]
        for j, item in enumerate(band):
            x = left + j * column
            page.rect((x, y, x + column, y + row), fill=(236, 236, 236))
            page.rect((x, y + row, x + column, y + 2 * row))
            label_size = _fit(page, item.label, style.size - 6, column - 2 * pad)
            page.text((x + column // 2, y + row // 2), item.label, label_size, anchor="mm")
            size = _fit(page, item.value, style.size, column - 2 * pad, smallest=12)
            page.text((x + column // 2, y + row + row // 2), item.value, size, key=item.key,
                      anchor="mm")  # fmt: skip
        y += 2 * row + style.size // 2
    return y


def comb(page: Page, item: Item, x: int, y: int, style: Style) -> int:
    """``label`` then the value one character to a box, as forms print ID
    numbers; returns the x after the last box."""
    box = page.text((x, y), _label_text(item.label, style), style.size)
    cell = round(style.size * 1.15)
    x0 = box[2] + _gap(style)
    top = y + style.size // 2 - cell // 2 + style.size // 8
    for n, ch in enumerate(item.value):
        cx = x0 + n * cell
        page.rect((cx, top, cx + cell, top + cell), outline=(110, 110, 110), width=1)
        page.text((cx + cell // 2, top + cell // 2), ch, style.size - 4, anchor="mm")
    end = x0 + len(item.value) * cell
    if item.key and item.key not in page.value_boxes:
        page.value_boxes[item.key] = (x0, top, end, top + cell)
    return end
