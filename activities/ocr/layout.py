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
from models.identity import normalize_text

# Characters that end a label and start its value; their presence also makes a
# short label found mid-line believable (``…男 民族:汉``).
_SEPARATORS = " :;,()[]/|-"
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

    @property
    def height(self) -> float:
        return max(self.y1 - self.y0, 1.0)

    @property
    def is_label(self) -> bool:
        return self.label is not None


@dataclass(frozen=True)
class LabelVocabulary:
    """Labels of one document type, compiled once.

    ``believable(label, rest)`` decides whether a *short* label found in the
    middle of a line really is a label; long labels always are.
    """

    labels: tuple[str, ...]
    believable: Callable[[str, str], bool]
    # Whether an unlisted word heading a line (客户证件号:) names one of our fields.
    guess: Callable[[str], bool] = lambda _word: False

    def compiled(self) -> tuple[re.Pattern[str], tuple[str, ...]]:
        return _compile(self.labels)


_PATTERN_CACHE: dict[tuple[str, ...], tuple[re.Pattern[str], tuple[str, ...]]] = {}


def _label_regex(label: str) -> str:
    parts = []
    for ch in label:
        if ch == "/":
            parts.append(r"[/|lI1]?")  # the slash in compound labels is often misread or lost
        else:
            parts.append(re.escape(ch))
    return r"\s*".join(parts)


def _compile(labels: tuple[str, ...]) -> tuple[re.Pattern[str], tuple[str, ...]]:
    if labels not in _PATTERN_CACHE:
        # Longest first, so 抵押权人姓名/名称 wins over 姓名 at the same position.
        ordered = tuple(sorted(labels, key=len, reverse=True))
        alternation = "|".join(f"(?P<l{i}>{_label_regex(lab)})" for i, lab in enumerate(ordered))
        _PATTERN_CACHE[labels] = (re.compile(alternation, re.IGNORECASE), ordered)
    return _PATTERN_CACHE[labels]


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


def _edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def _fuzzy_label(text: str, vocab: LabelVocabulary) -> tuple[int, int, str] | None:
    """A label at the start of the line with one character misread or lost.

    Short labels (良族 for 民族) are believed only when what follows reads as
    their field; one wrong character out of two is too weak a sign alone.
    """
    _pattern, labels = vocab.compiled()
    lead = len(text) - len(text.lstrip(_SEPARATORS + ".0123456789"))
    best: tuple[int, int, str] | None = None
    for label in labels:
        if len(label) < 2 or (best and len(best[2]) >= len(label)):
            continue
        sizes = (len(label),) if len(label) < 4 else (len(label), len(label) - 1, len(label) + 1)
        # The closest reading wins; on a tie, the one as long as the label.
        scored = [(_edit_distance(text[lead : lead + size], label), i, size)
                  for i, size in enumerate(sizes)]  # fmt: skip
        distance, _order, size = min(scored)
        end = lead + size
        if distance > 1 or end > len(text):
            continue
        if len(label) < 4 and not vocab.believable(label, text[end:].lstrip(_SEPARATORS)):
            continue
        best = (lead, end, label)
    return best


# A line-leading word that may be a label we do not list: 2-10 CJK characters
# (slashes and brackets allowed) followed by a colon, a space, or the line's end.
_LEADING_WORD = re.compile(
    r"^[\d.\s]*(?P<word>[\u4e00-\u9fff/()]{2,10}?)(?P<colon>\s*:)?(?=\s+\S|$|(?<=:))"
)
# Without a colon, a word is taken for a label only if it ends the way labels
# do; otherwise a brand (大众汽车牌) or a lender printed alone would become one.
_LABEL_ENDINGS = ("号", "码", "名", "称", "期", "间", "日", "人", "址", "所", "额", "金", "型", "构", "位")


def _guessed_label(text: str, vocab: LabelVocabulary) -> tuple[int, int, str] | None:
    match = _LEADING_WORD.match(text)
    if not match:
        return None
    word = match["word"]
    if not match["colon"] and not word.endswith(_LABEL_ENDINGS):
        return None
    if vocab.guess(word):
        return (match.start("word"), match.end("word"), word)
    return None


def _label_matches(text: str, vocab: LabelVocabulary) -> list[tuple[int, int, str]]:
    pattern, ordered = vocab.compiled()
    found = []
    for match in pattern.finditer(text):
        label = ordered[int(match.lastgroup[1:])]
        start, end = match.span()
        before = text[start - 1] if start else " "
        rest = text[end:]
        at_start = not text[:start].strip(_SEPARATORS + ".0123456789")
        separated = before in _SEPARATORS or rest.lstrip().startswith(":")
        if at_start or separated or len(label) >= 4 or vocab.believable(label, rest):
            found.append((start, end, label))
    starts_line = bool(found) and not text[: found[0][0]].strip(_SEPARATORS + ".0123456789")
    fuzzy = _fuzzy_label(text, vocab)
    if starts_line and fuzzy and fuzzy[0] == found[0][0] and len(fuzzy[2]) > len(found[0][2]):
        # 机动车所有人/身份证明名称/号矿: the long label, one character misread,
        # not its prefix 机动车所有人 with the rest taken for the value.
        found = [fuzzy] + [m for m in found[1:] if m[0] >= fuzzy[1]]
    elif not starts_line:
        leading = fuzzy or _guessed_label(text, vocab)
        if leading and (not found or leading[1] <= found[0][0]):
            found.insert(0, leading)
    return found


def split_lines(lines: list[OcrLine], vocab: LabelVocabulary) -> list[Segment]:
    """Cut every line at the labels it contains; drop numbering and debris."""
    skew = page_skew(lines)
    segments: list[Segment] = []
    for index, line in enumerate(lines):
        text = normalize_text(line.text)
        if not text:
            continue
        weights = [_char_width(ch) for ch in text]
        total = sum(weights) or 1.0
        offsets = [0.0]
        for w in weights:
            offsets.append(offsets[-1] + w / total)
        matches = _label_matches(text, vocab)
        cuts = [(0, None)] + [(start, label) for start, _end, label in matches]
        ends = {start: end for start, end, _label in matches}
        for (begin, label), (finish, _next) in zip(
            cuts, cuts[1:] + [(len(text), None)], strict=True
        ):
            if label is None and begin == finish:
                continue
            content_start = ends.get(begin, begin) if label else begin
            piece = text[content_start:finish].strip(" ")
            piece = piece.lstrip(_STRIP_LEADING).rstrip(_STRIP_TRAILING)
            if label is None and _JUNK.match(piece):
                continue
            span = (offsets[begin], offsets[content_start], offsets[finish])
            segments.append(_make_segment(piece, line, index, span, skew, label))
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
        if segment.is_label:
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
        if segment.is_label or segment.owner not in (None, label):
            break
        values.append(segment)
    return values


def continuation(first: Segment, segments: list[Segment], limit: int = 3) -> list[Segment]:
    """Lines that continue a wrapped value: left-aligned with it, directly below."""
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
        ]
        if not below:
            break
        chain.append(min(below, key=lambda s: s.y0))
    return chain[1:]
