"""Page geometry: cut OCR lines into label and value segments and find the
value that belongs to a label (same segment, to its right, or below it).

OCR engines are inconsistent about boxes: ``姓名:张三 性别:男`` may come back as
one line, two, or four.  So every line is first cut at the labels it contains,
and boxes are compared only after the page's skew has been rotated out.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from activities.ocr.engine import OcrLine, Point
from activities.ocr.labels import LabelVocabulary, label_matches
from models.identity import normalize_text

_STRIP_LEADING = " :;,.)]-|/"
_STRIP_TRAILING = " :;,([-|/"
# Section numbers of certificate tables (``4.机动车登记编号``) and similar debris.
_JUNK = re.compile(r"^[\d\W_]{0,4}$")


@dataclass(eq=False)  # identity semantics: two lines may read alike
class Segment:
    """A piece of one OCR line: either a label (with any value printed after it
    on the same line) or a bare value.  Coordinates are de-skewed page pixels."""

    text: str
    confidence: float
    x0: float
    y0: float
    x1: float
    y1: float
    box: list[Point]
    line_index: int
    value_x0: float  # where the value starts (after the label, for label segments)
    label: str | None = None  # the vocabulary label matched, if this is a label segment
    claimed: bool = False
    # The label this value sits right of; such a value is never taken as the
    # value *below* some other label.
    owner: Segment | None = None
    # The bare text ended in a colon: some field's label our vocabulary does not
    # know (首次还款日：), so never a value.  The colon itself is stripped.
    ends_in_colon: bool = False
    # The lowest score of any character in ``text`` (the line's score when the
    # engine gave none): one misread character is what review must catch.
    weakest: float = 1.0

    @property
    def height(self) -> float:
        return max(self.y1 - self.y0, 1.0)

    @property
    def is_label(self) -> bool:
        return self.label is not None

    @property
    def stops_values(self) -> bool:
        """A label, known or not: the values of a row or a column end here."""
        return self.is_label or self.ends_in_colon


def _char_width(ch: str) -> float:
    # CJK glyphs are square; Latin letters and digits about half as wide.
    return 1.0 if ord(ch) > 0x2E80 else 0.55


def _rotate(points: Iterable[Point], angle: float) -> list[Point]:
    cos, sin = math.cos(angle), math.sin(angle)
    return [(x * cos - y * sin, x * sin + y * cos) for x, y in points]


def page_skew(lines: list[OcrLine]) -> float:
    """The median slope (radians) of the page's longer text lines."""
    angles = []
    for line in lines:
        (x0, y0), (x1, y1), _, (x3, y3) = line.box
        width, height = math.hypot(x1 - x0, y1 - y0), math.hypot(x3 - x0, y3 - y0)
        if width > 2 * height and width > 0:
            angles.append(math.atan2(y1 - y0, x1 - x0))
    return statistics.median(angles) if angles else 0.0


def _interpolate(box: list[Point], start: float, end: float) -> list[Point]:
    """The part of a quadrilateral between fractions ``start`` and ``end`` of its width."""
    (ax, ay), (bx, by), (cx, cy), (dx, dy) = box

    def along(p: Point, q: Point, t: float) -> Point:
        return (p[0] + (q[0] - p[0]) * t, p[1] + (q[1] - p[1]) * t)

    return [
        along((ax, ay), (bx, by), start),
        along((ax, ay), (bx, by), end),
        along((dx, dy), (cx, cy), end),
        along((dx, dy), (cx, cy), start),
    ]


def _make_segment(
    text: str,
    line: OcrLine,
    index: int,
    span: tuple[float, float, float],
    skew: float,
    label: str | None,
) -> Segment:
    start, value_start, end = span
    box = _interpolate(line.box, start, end)
    flat = _rotate(box, -skew)
    xs, ys = [p[0] for p in flat], [p[1] for p in flat]
    value_xs = [p[0] for p in _rotate(_interpolate(line.box, value_start, end), -skew)]
    return Segment(
        text=text,
        confidence=line.confidence,
        x0=min(xs),
        y0=min(ys),
        x1=max(xs),
        y1=max(ys),
        box=[(round(x, 1), round(y, 1)) for x, y in box],
        line_index=index,
        value_x0=min(value_xs),
        label=label,
    )


def scored_text(line: OcrLine) -> tuple[str, list[float]]:
    """The line's normalised text and a score for each of its characters.

    Normalisation folds character by character, so each score follows its
    character; should it ever not line up, every character gets the line's score.
    """
    text = normalize_text(line.text)
    if len(line.char_scores) != len(line.text):
        return text, [line.confidence] * len(text)
    chars: list[str] = []
    scores: list[float] = []
    for ch, score in zip(line.text, line.char_scores, strict=True):
        folded = normalize_text(ch) or " "
        if folded == " " and (not chars or chars[-1] == " "):
            continue  # leading or repeated whitespace collapses
        chars.extend(folded)
        scores.extend([score] * len(folded))
    while chars and chars[-1] == " ":
        chars.pop()
        scores.pop()
    if "".join(chars) != text:
        return text, [line.confidence] * len(text)
    return text, scores


def weakest_score(text: str, scores: list[float], start: int, end: int, default: float) -> float:
    """The lowest score among the visible characters of ``text[start:end]``."""
    span = zip(text[start:end], scores[start:end], strict=True)
    return min((score for ch, score in span if not ch.isspace()), default=default)


def split_lines(lines: list[OcrLine], vocab: LabelVocabulary) -> list[Segment]:
    """Cut every line at the labels it contains; drop numbering and debris."""
    skew = page_skew(lines)
    segments: list[Segment] = []
    for index, line in enumerate(lines):
        text, scores = scored_text(line)
        if not text:
            continue
        weights = [_char_width(ch) for ch in text]
        total = sum(weights) or 1.0
        offsets = [0.0]
        for w in weights:
            offsets.append(offsets[-1] + w / total)
        matches = label_matches(text, vocab)
        cuts = [(0, None)] + [(start, label) for start, _end, label in matches]
        ends = {start: end for start, end, _label in matches}
        for (begin, label), (finish, _next) in zip(
            cuts, cuts[1:] + [(len(text), None)], strict=True
        ):
            if label is None and begin == finish:
                continue
            content_start = ends.get(begin, begin) if label else begin
            piece = text[content_start:finish].strip(" ")
            ends_in_colon = label is None and piece.endswith(":")
            piece = piece.lstrip(_STRIP_LEADING).rstrip(_STRIP_TRAILING)
            if label is None and _JUNK.match(piece):
                continue
            span = (offsets[begin], offsets[content_start], offsets[finish])
            segment = _make_segment(piece, line, index, span, skew, label)
            segment.ends_in_colon = ends_in_colon
            # The stripping above only trims the ends, so the piece is found
            # at or after where its content starts.
            piece_start = text.find(piece, content_start) if piece else content_start
            segment.weakest = weakest_score(
                text, scores, piece_start, piece_start + len(piece), line.confidence
            )
            segments.append(segment)
    return segments


def assign_owners(segments: list[Segment]) -> None:
    """Tie each bare value to the empty label directly left of it, if any."""
    for segment in segments:
        if segment.is_label and not segment.text:
            row = values_right_of(segment, segments)
            if row and row[0].owner is None:
                row[0].owner = segment


def _same_row(a: Segment, b: Segment) -> bool:
    overlap = min(a.y1, b.y1) - max(a.y0, b.y0)
    centre_gap = abs((a.y0 + a.y1) - (b.y0 + b.y1)) / 2
    return overlap >= 0.5 * min(a.height, b.height) and centre_gap < 0.5 * max(a.height, b.height)


def _right_of(label: Segment, s: Segment) -> bool:
    # Detector boxes are padded, so a value printed tight against its label may
    # overlap the label's box; what matters is that it lies mostly beyond it.
    return s.x0 >= label.x0 + 0.6 * (label.x1 - label.x0) and (s.x0 + s.x1) / 2 > label.x1


def values_right_of(label: Segment, segments: list[Segment]) -> list[Segment]:
    """Bare values on the label's row, nearest first, up to the next label."""
    row = sorted(
        (s for s in segments if s is not label and _same_row(label, s) and _right_of(label, s)),
        key=lambda s: s.x0,
    )
    values = []
    for segment in row:
        if segment.stops_values:
            break
        values.append(segment)
    return values


def values_below(label: Segment, segments: list[Segment], max_gap: float = 2.2) -> list[Segment]:
    """Bare values under the label within its column, nearest first, up to the
    first label or a value that another label owns."""
    h = label.height
    column = [
        s
        for s in segments
        if s is not label
        and s.y0 >= label.y1 - 0.3 * h
        and s.y0 - label.y1 <= max_gap * h
        and s.x1 >= label.x0 - h
        and s.x0 <= label.x1 + 2 * h
    ]
    column.sort(key=lambda s: (s.y0 - label.y1, abs(s.x0 - label.x0)))
    values = []
    for segment in column:
        if segment.stops_values or segment.owner not in (None, label):
            break
        values.append(segment)
    return values


def continuation(
    first: Segment, segments: list[Segment], fits: Callable[[str], bool], limit: int = 3
) -> list[Segment]:
    """Lines that continue a wrapped value: left-aligned with it, directly
    below, and reading like more of the same value (``fits``)."""
    chain = [first]
    for _ in range(limit):
        last = chain[-1]
        h = last.height
        below = [
            s
            for s in segments
            if not s.is_label
            and not s.claimed
            and s.owner is None  # the value of the next row's label
            and all(s is not c for c in chain)
            and 0 <= s.y0 - last.y1 + 0.3 * h <= 1.2 * h
            and abs(s.x0 - first.value_x0) <= 1.5 * h
            and fits(s.text)
        ]
        if not below:
            break
        chain.append(min(below, key=lambda s: s.y0))
    return chain[1:]
