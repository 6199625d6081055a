"""The ID card front by position, for when its labels are lost.

Every second-generation resident ID card prints the same template: name, then
sex and ethnicity, birth date, address (wrapping), and the number at the foot.
Its labels are small and pale blue, so in a dim or distant photo they are the
first thing the detector drops while the black values survive.  The fixed
order then still says which value is which.
"""

from __future__ import annotations

from collections.abc import Callable

from activities.ocr.engine import OcrLine
from activities.ocr.fields import FIELDS, address_continues
from activities.ocr.labels import edits_apart
from activities.ocr.pickers import pick_date, pick_id_number
from models.identity import check_id_number, normalize_text

# Value found by position: the label is missing, so trust it a little less.
POSITION_PENALTY = 0.9
_LABELS = ("姓名", "性别", "民族", "出生", "住址")

# (key, value, line confidence, weakest character score, box)
Found = Callable[[str, str, float, float, list], None]


def _top(line: OcrLine) -> float:
    return min(y for _, y in line.box)


def _middle(line: OcrLine) -> float:
    return sum(y for _, y in line.box) / 4


def _is_label(text: str) -> bool:
    """A misread label (性弹 for 性别) is not a name."""
    return any(edits_apart(text, label) <= 1 for label in _LABELS)


def _weakest(line: OcrLine) -> float:
    # These rows hold nothing but the value (the card prints its labels apart).
    return min(line.char_scores, default=line.confidence)


def _left(line: OcrLine) -> float:
    return min(x for x, _ in line.box)


def read_by_position(lines: list[OcrLine], missing: set[str], add: Found) -> None:
    """Offer values for the ``missing`` keys (name, sex, address) via ``add``."""
    if not missing & {"name", "sex", "address"}:
        return
    texts = [normalize_text(line.text).replace(" ", "") for line in lines]
    order = sorted(range(len(lines)), key=lambda i: _top(lines[i]))
    number_row = next((i for i in order if (v := pick_id_number(texts[i]))
                       and check_id_number(v).valid), None)  # fmt: skip
    birth_row = next((i for i in order if pick_date(texts[i])), None)
    sex_row = next((i for i in order if texts[i][:1] in ("男", "女") and len(texts[i]) <= 4), None)

    if "sex" in missing and sex_row is not None:
        row = lines[sex_row]
        add("sex", texts[sex_row][0], row.confidence, _weakest(row), row.box)
    anchor = sex_row if sex_row is not None else birth_row
    if "name" in missing and anchor is not None:
        spec = FIELDS["name"]
        above = [i for i in order if _middle(lines[i]) < _top(lines[anchor])]
        for i in reversed(above):  # nearest row first
            value = spec.pick(texts[i])
            if value and spec.validate(value) is None and not _is_label(value):
                add("name", value, lines[i].confidence, _weakest(lines[i]), lines[i].box)
                break
    if "address" in missing and birth_row is not None:
        end = _top(lines[number_row]) if number_row is not None else float("inf")
        below = [i for i in order if _top(lines[birth_row]) < _top(lines[i]) < end]
        below = [i for i in below if address_continues(texts[i])]
        if below:
            first = lines[below[0]]
            left, height = _left(first), abs(first.box[3][1] - first.box[0][1])
            parts = [i for i in below if abs(_left(lines[i]) - left) < 1.5 * height][:4]
            text = "".join(texts[i] for i in parts)
            value = FIELDS["address"].pick(text)
            if value:
                confidence = min(lines[i].confidence for i in parts)
                weakest = min(_weakest(lines[i]) for i in parts)
                add("address", value, confidence, weakest, lines[parts[0]].box)
