"""A second engine's reading of the fields that identify a person or a car.

A wrong name, ID number, VIN, plate, engine or contract number that passes
every check is the error nobody looks at.  Two engines trained apart rarely
misread the same crop the same way, so each such value's line is cut from the
page again and read by a second engine's recogniser alone (no detection: the
first engine already found the line).  The second reading goes through the
same label cutting and normalisation as the first (``extract.line_values``);
if it yields a different value that is itself plausible, the field gets a
``second_reading`` doubt, which sends the document to review.  Agreement adds
nothing, and a doubt never changes the value.

For the ID number and the VIN a check digit may choose: when only the first
reading's check digit holds, the second engine misread and is ignored; when
only the second's holds, the doubt says so and offers it as the alternative.

The line is re-read whole, not the field's box: a box cut out of a line at a
label is placed by estimated character widths and may clip a character, while
the line's own box is what the first engine read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from activities.ocr.engine import LineRecognizer, OcrLine, crop_line
from activities.ocr.extract import FieldDoubt, FieldReading, FieldReview, line_values
from activities.ocr.fields import FIELDS
from models.enums import DocType
from models.identity import check_id_number, check_vin

IDENTITY_FIELDS = ("name", "id_number", "vin", "plate_no", "engine_no", "contract_no")
# Fields whose own check digit tells a right reading from a wrong one.
CHECK_DIGITS: dict[str, Callable[[str], bool]] = {
    "id_number": lambda value: check_id_number(value).valid,
    "vin": lambda value: check_vin(value).check_digit_verified,
}
# The line is cut a little wider than the first engine's box (a fraction of its
# height on every side): engines are trained on crops with some margin, and the
# detectors' margins differ.
PAD = 0.1
# A field's box must lie this much inside a line for that line to be its source.
MIN_OVERLAP = 0.5


@dataclass(frozen=True)
class ReadPage:
    """One page as the first engine read it: the (possibly turned) image and
    its lines, in that image's pixels."""

    image: np.ndarray
    lines: list[OcrLine]


def _bounds(box: list[tuple[float, float]]) -> tuple[float, float, float, float]:
    xs, ys = [x for x, _ in box], [y for _, y in box]
    return min(xs), min(ys), max(xs), max(ys)


def _overlap(inner: tuple, outer: tuple) -> float:
    """The share of ``inner``'s area that lies inside ``outer`` (both x0, y0, x1, y1)."""
    width = min(inner[2], outer[2]) - max(inner[0], outer[0])
    height = min(inner[3], outer[3]) - max(inner[1], outer[1])
    area = max(inner[2] - inner[0], 1.0) * max(inner[3] - inner[1], 1.0)
    return max(width, 0.0) * max(height, 0.0) / area


def source_line(pages: list[ReadPage], box: list[tuple[float, float]]) -> tuple[int, int] | None:
    """(page, line) indices of the line a field's box was cut from.

    Field boxes are in the coordinates of the pages stacked top to bottom
    (``reader._stack``); the page is the one the box's middle falls on."""
    x0, y0, x1, y1 = _bounds(box)
    middle, top = (y0 + y1) / 2, 0.0
    for page_index, page in enumerate(pages):
        height = page.image.shape[0]
        if top <= middle < top + height:
            field = (x0, y0 - top, x1, y1 - top)
            scores = [_overlap(field, _bounds(line.box)) for line in page.lines]
            if scores and max(scores) >= MIN_OVERLAP:
                return page_index, int(np.argmax(scores))
            return None
        top += height
    return None


def _padded(box: list[tuple[float, float]], pad: float) -> np.ndarray:
    """The quadrilateral grown along its own sides by ``pad`` of its height."""
    tl, tr, br, bl = (np.asarray(p, dtype=np.float32) for p in box)
    across = tr - tl
    down = bl - tl
    height = float(np.linalg.norm(down)) or 1.0
    width = float(np.linalg.norm(across)) or 1.0
    dx = across / width * pad * height
    dy = down / height * pad * height
    return np.stack([tl - dx - dy, tr + dx - dy, br + dx + dy, bl - dx + dy]).astype(np.float32)


def second_reading_doubt(key: str, value: str, second: list[str], engine: str) -> FieldDoubt | None:
    """The doubt a second reading casts on ``value``, if any.

    ``second`` holds what the second engine's line reads as for this field.
    Only a plausible reading counts (one that passes the field's own check):
    an engine that reads 粵 for 粤 in a plate has misread, not disagreed.
    Agreement adds nothing; and for the ID number and the VIN, when the first
    reading's check digit holds, only a second one whose check digit also
    holds can cast a doubt.
    """
    if not second or value in second:
        return None
    spec = FIELDS[key]
    plausible = [alt for alt in second if spec.validate(alt) is None]
    checked = CHECK_DIGITS.get(key)
    if checked is not None:
        sound = [alt for alt in plausible if checked(alt)]
        plausible = sound if checked(value) else sound + [a for a in plausible if a not in sound]
    if not plausible:
        return None
    alternative = plausible[0]
    if checked is not None and not checked(value) and checked(alternative):
        detail = (
            f"its check digit fails; a second engine ({engine}) read {alternative!r}, "
            "whose check digit holds"
        )
    else:
        detail = f"a second engine ({engine}) read {alternative!r}"
    return FieldDoubt(kind="second_reading", detail=detail, alternative=alternative)


class SecondOpinion:
    """Re-reads identity fields with ``recognizer`` and adds a doubt where it disagrees."""

    def __init__(self, recognizer: LineRecognizer) -> None:
        self.recognizer = recognizer

    @property
    def name(self) -> str:
        return self.recognizer.name

    def reviewer(self, pages: list[ReadPage]) -> FieldReview:
        """The review ``extract_fields`` runs on a document read from ``pages``."""
        return partial(self.review, pages)

    def review(
        self, pages: list[ReadPage], doc_type: DocType, fields: dict[str, FieldReading]
    ) -> None:
        wanted: dict[tuple[int, int], list[str]] = {}
        for key in IDENTITY_FIELDS:
            reading = fields.get(key)
            if reading is None or not reading.value or not reading.box:
                continue
            found = source_line(pages, reading.box)
            if found is not None:
                # A compound label (所有人/身份证明号码) holds two fields in one line.
                wanted.setdefault(found, []).append(key)
        if not wanted:
            return
        sources = [pages[page].lines[line] for page, line in wanted]
        crops = [
            crop_line(pages[page].image, _padded(pages[page].lines[line].box, PAD))
            for page, line in wanted
        ]
        for source, keys, read in zip(
            sources, wanted.values(), self.recognizer.read_crops(crops), strict=True
        ):
            if not read.text.strip():
                continue
            score = sum(read.char_scores) / len(read.char_scores) if read.char_scores else 0.0
            line = OcrLine(read.text, score, source.box, read.char_scores)
            for key in keys:
                reading = fields[key]
                doubt = second_reading_doubt(
                    key, reading.value, line_values(doc_type, key, line), self.name
                )
                if doubt is not None:
                    reading.doubts.append(doubt)
