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


def _label_text(label: str, style: Style) -> str:
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


def grid(page: Page, items: list[Item], top: int, left: int, style: Style, per_row: int = 2) -> int:
    """A bordered table: label cell, value cell, per_row pairs per row."""
    width = page.size[0] - 2 * left
    label_width = max(page.width_of(item.label, style.size - 4) for item in items) + style.size
    pair_width = width // per_row
    row_height = round(style.size * 2.1)
    y = top
    for i in range(0, len(items), per_row):
        for j, item in enumerate(items[i : i + per_row]):
            x = left + j * pair_width
            value_width = pair_width - label_width
            page.rect((x, y, x + label_width, y + row_height))
            page.rect((x + label_width, y, x + label_width + value_width, y + row_height))
            middle = y + row_height // 2
            page.text((x + style.size // 3, middle), item.label, style.size - 4, LABEL_GREY,
                      anchor="lm")  # fmt: skip
            # Shrink a long value to its cell rather than run over the border.
            size = style.size
            while size > 14 and page.width_of(item.value, size) > value_width - style.size // 2:
                size -= 1
            page.text((x + label_width + style.size // 3, middle), item.value, size,
                      key=item.key, anchor="lm")  # fmt: skip
        y += row_height
    return y


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
