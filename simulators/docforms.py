"""The ways printed forms lay out label/value pairs: one per line, two per
line, a bordered table, or the label above its value.  Every style writes
onto a ``Page`` and records where each value landed."""

from __future__ import annotations

from dataclasses import dataclass

from simulators.docdraw import Page

LABEL_GREY = (90, 90, 90)


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


def _label_text(label: str, style: Style) -> str:
    # Two-character labels are often letter-spaced on printed forms (姓　名).
    if style.spaced and len(label) == 2:
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
