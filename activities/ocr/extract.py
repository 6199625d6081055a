"""From OCR lines to checked document fields.

``extract_fields`` finds each field by its label (value after the label on the
same line, in the next box to the right, or below it), falls back to the
value's own shape anywhere on the page (a valid VIN needs no label), then
normalises and validates.  Whatever a person must look at ends up in
``issues``, and ``needs_review`` is set when a required field is missing,
invalid or poorly read.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache

from pydantic import BaseModel, Field

from activities.ocr.char_scores import piece_scores, value_scores
from activities.ocr.classify import classify
from activities.ocr.doctypes import LAYOUTS, DocLayout
from activities.ocr.engine import OcrLine
from activities.ocr.fields import FIELDS, FieldSpec
from activities.ocr.idcard import POSITION_PENALTY, read_by_position
from activities.ocr.labels import LabelVocabulary
from activities.ocr.layout import (
    Segment,
    assign_owners,
    continuation,
    scored_text,
    split_lines,
    values_below,
    values_right_of,
    weakest_score,
)
from activities.ocr.priors import FieldDoubt, field_doubts
from models.enums import DocType
from models.identity import check_id_number

# PP-OCR scores clean print at 0.95+; below this a person should look.
CONFIDENCE_FLOOR = 0.80
# A line's score is its characters' mean, which hides the one it misread: on
# 200 generated documents, a weakest character under 0.5 marked half of the
# wrong values and 6 of 1,427 right ones.
WEAK_CHARACTER_FLOOR = 0.5
# How much worse aligned (in line heights) the nearest valid value on a label's
# row may be than the best aligned one and still be taken.
ROW_ALIGNMENT_SLACK = 0.2
# A value found only by its shape (no label next to it) is trusted a little less.
UNLABELLED_PENALTY = 0.95
__all__ = [
    "CONFIDENCE_FLOOR",
    "DocumentReading",
    "FieldDoubt",
    "FieldReading",
    "classify",
    "extract_fields",
    "line_values",
]

# Identifiers that must not appear twice with different values on one document.
_UNIQUE_KEYS = ("id_number", "vin", "plate_no")


class FieldReading(BaseModel):
    value: str | None
    confidence: float = 0.0
    valid: bool = False
    box: list[tuple[float, float]] | None = None
    issue: str | None = None
    # The lowest score of any single character of the text the value was read
    # from (None when the engine gives no per-character scores).
    weakest_char: float | None = None
    doubts: list[FieldDoubt] = Field(default_factory=list)


class DocumentReading(BaseModel):
    doc_type: DocType | None
    fields: dict[str, FieldReading] = Field(default_factory=dict)
    needs_review: bool = False
    issues: list[str] = Field(default_factory=list)
    ms: int = 0
    pages: int = 1


@dataclass(frozen=True)
class _Candidate:
    value: str
    confidence: float
    box: list[tuple[float, float]] | None
    labelled: bool
    weakest: float  # the lowest character score in the text the value came from
    # One score per character of ``value``, when the text it came from is known.
    scores: tuple[float, ...] | None = None


@cache
def _vocabulary(doc_type: DocType) -> LabelVocabulary:
    layout = LAYOUTS[doc_type]

    def believable(label: str, rest: str) -> bool:
        # A short label glued to the previous value (性别男民族汉) is believed
        # only when what follows it reads as that label's field.
        for key in layout.keys_for(label):
            spec = FIELDS[key]
            value = spec.pick(rest)
            if value and spec.validate(value) is None:
                return True
        return False

    return LabelVocabulary(
        tuple(layout.labels), believable, guess=lambda word: bool(layout.keys_for(word))
    )


def _bounds(pieces: list[Segment]) -> list[tuple[float, float]]:
    xs = [x for piece in pieces for x, _ in piece.box]
    ys = [y for piece in pieces for _, y in piece.box]
    return [(min(xs), min(ys)), (max(xs), min(ys)), (max(xs), max(ys)), (min(xs), max(ys))]


def _reads_as(segment: Segment, specs: list[FieldSpec]) -> tuple[bool, bool]:
    """(some field picks a value from it, that value is also valid)."""
    picked = valid = False
    for spec in specs:
        value = spec.pick(segment.text)
        picked = picked or bool(value)
        valid = valid or bool(value and spec.validate(value) is None)
    return picked, valid


def _alignment(label: Segment, segment: Segment) -> float:
    """Confidence less how far the segment's middle sits off the label's line."""
    offset = abs((label.y0 + label.y1) - (segment.y0 + segment.y1)) / 2
    return segment.confidence - offset / label.height


def _value_pieces(label: Segment, keys: tuple[str, ...], segments: list[Segment]) -> list[Segment]:
    """The segment holding the label's value: its own text if valid, else the
    best-aligned valid value on its row, else the nearest valid one below (a
    seal fragment or a character the engine glued to the label is passed over);
    failing a valid one, its own text, else the first readable neighbour."""
    specs = [FIELDS[key] for key in keys]
    inline_picked, inline_valid = _reads_as(label, specs) if label.text else (False, False)
    if inline_valid:
        return [label]
    row = [s for s in values_right_of(label, segments) if not s.claimed]
    below = [s for s in values_below(label, segments) if not s.claimed]
    readings = {id(s): _reads_as(s, specs) for s in row + below}
    valid_row = [s for s in row if readings[id(s)][1]]
    valid_below = [s for s in below if readings[id(s)][1]]
    readable = [s for s in row + below if readings[id(s)][0]]
    if valid_row:
        # The nearest valid value on the row, unless it sits clearly off the
        # label's line (in a skewed photo, a value of the row above or below).
        best = max(_alignment(label, s) for s in valid_row)
        chosen = next(s for s in valid_row if _alignment(label, s) >= best - ROW_ALIGNMENT_SLACK)
    elif valid_below:
        chosen = valid_below[0]
    elif inline_picked:
        # What follows the label reads as the field but fails its check, and no
        # neighbour does better: report it, so the check failure is seen.
        return [label]
    elif readable:
        chosen = readable[0]
    else:
        return []
    chosen.claimed = True
    return [chosen]


def _collect(
    layout: DocLayout, segments: list[Segment], lines: list[OcrLine]
) -> dict[str, list[_Candidate]]:
    found: dict[str, list[_Candidate]] = defaultdict(list)
    for segment in segments:
        keys = layout.keys_for(segment.label) if segment.label else ()
        if not keys:
            continue
        pieces = _value_pieces(segment, keys, segments)
        if not pieces:
            continue
        wraps = [FIELDS[key].continues for key in keys if FIELDS[key].continues]
        if wraps:
            extra = continuation(pieces[0], segments, wraps[0])
            for piece in extra:
                piece.claimed = True
            pieces += extra
        text = " ".join(piece.text for piece in pieces)
        scores: list[float] = []
        for n, piece in enumerate(pieces):
            if n:
                scores.append(1.0)  # the space that joins two pieces
            scores += piece_scores(piece, lines)
        confidence = min(piece.confidence for piece in pieces)
        weakest = min(piece.weakest for piece in pieces)
        for key in keys:
            value = FIELDS[key].pick(text)
            if value:
                char_scores = value_scores(value, text, scores)
                candidate = _Candidate(
                    value, confidence, _bounds(pieces), True, weakest, char_scores
                )
                found[key].append(candidate)
    return found


def _scan(layout: DocLayout, lines: list[OcrLine], found: dict[str, list[_Candidate]]) -> None:
    texts = [scored_text(line) for line in lines]
    for key in layout.keys:
        spec = FIELDS[key]
        if spec.scan is None:
            continue
        if spec.scan_page:
            # The match may span lines; the page's typical score stands for it.
            confidence = statistics.median(line.confidence for line in lines) if lines else 0.0
            for value in spec.scan("".join(text for text, _scores in texts)):
                penalised = confidence * UNLABELLED_PENALTY
                found[key].append(_Candidate(value, penalised, None, False, confidence))
            continue
        for line, (text, scores) in zip(lines, texts, strict=True):
            for value in spec.scan(text):
                confidence = line.confidence * UNLABELLED_PENALTY
                start = text.find(value)
                # A value normalised on the way (O read for 0) is not found
                # verbatim: then the whole line's weakest character stands for it.
                span = (start, start + len(value)) if start >= 0 else (0, len(text))
                weakest = weakest_score(text, scores, *span, line.confidence)
                char_scores = value_scores(value, text, scores)
                candidate = _Candidate(
                    value, confidence, list(line.box), False, weakest, char_scores
                )
                found[key].append(candidate)


def _join_model(found: dict[str, list[_Candidate]]) -> None:
    models = found.pop("vehicle_model", [])
    if not models:
        return
    model = models[0]
    brands = found.get("brand_model", [])
    if not brands:
        found["brand_model"] = [model]
        return
    brand = brands[0]
    if model.value not in brand.value:
        joined = _Candidate(
            brand.value + model.value,
            min(brand.confidence, model.confidence),
            brand.box,
            labelled=True,
            weakest=min(brand.weakest, model.weakest),
            scores=brand.scores + model.scores if brand.scores and model.scores else None,
        )
        found["brand_model"] = [joined, *brands[1:]]


def _repaired(spec: FieldSpec, candidates: list[_Candidate], notes: list[str]) -> list[_Candidate]:
    """Apply the field's check-digit repair when no candidate is sound as read.

    A repaired value is still sent to a person: the note makes it reviewable."""
    if spec.repair is None:
        return candidates
    fixes = [spec.repair(c.value) for c in candidates]
    if any(
        fix is None and spec.validate(c.value) is None
        for c, fix in zip(candidates, fixes, strict=True)
    ):
        return candidates
    out = []
    for candidate, fix in zip(candidates, fixes, strict=True):
        if fix:
            notes.append(
                f"{spec.title} read as {candidate.value}; {fix} is the only look-alike "
                "reading its check digit accepts, please confirm it"
            )
            candidate = replace(candidate, value=fix)
        out.append(candidate)
    return out


def _choose(spec: FieldSpec, candidates: list[_Candidate]) -> tuple[FieldReading, list[str]]:
    """The first valid candidate (labelled before unlabelled), else the first one seen."""
    notes: list[str] = []
    candidates = _repaired(spec, candidates, notes)
    judged = [(c, spec.validate(c.value)) for c in candidates]
    valid = [c for c, reason in judged if reason is None]
    if spec.key in _UNIQUE_KEYS:
        distinct = sorted({c.value for c in valid if c.labelled})
        if len(distinct) > 1:
            notes.append(f"{spec.title} is printed with different values: {', '.join(distinct)}")
    if valid:
        best = max(valid, key=lambda c: c.labelled)
        reading = FieldReading(
            value=best.value,
            confidence=round(best.confidence, 3),
            valid=True,
            box=best.box,
            weakest_char=round(best.weakest, 3),
        )
        # Priors judge only values that pass their own check (priors.py).
        scores = best.scores or (best.weakest,) * len(best.value)
        reading.doubts = field_doubts(spec.key, best.value, scores)
        doubt = spec.doubt(best.value) if spec.doubt else None
        if doubt:
            notes.append(f"{spec.title} {best.value} {doubt}")
        if notes:
            reading.issue = notes[0]
        return reading, notes
    labelled = [(c, r) for c, r in judged if c.labelled] or judged
    best, reason = labelled[0]
    reading = FieldReading(
        value=best.value,
        confidence=round(best.confidence, 3),
        valid=False,
        box=best.box,
        issue=reason,
        weakest_char=round(best.weakest, 3),
    )
    return reading, notes


def _cross_check_id_card(fields: dict[str, FieldReading]) -> None:
    id_reading = fields.get("id_number")
    if not id_reading or not id_reading.valid or not id_reading.value:
        return
    facts = check_id_number(id_reading.value)
    expected = {"sex": facts.sex, "birth_date": facts.birth_date}
    for key, value in expected.items():
        reading = fields.get(key)
        if reading and reading.valid and reading.value != value:
            reading.valid = False
            reading.issue = f"{reading.value} does not match the ID number, which says {value}"


# Looks at the chosen fields before they are judged and may add doubts to them
# (``second_opinion.py``); it never changes a value.
FieldReview = Callable[[DocType, dict[str, FieldReading]], None]


def extract_fields(
    doc_type: DocType, lines: list[OcrLine], review: FieldReview | None = None
) -> DocumentReading:
    """Read, normalise and check the fields of one document of a known type."""
    layout = LAYOUTS[doc_type]
    segments = split_lines(lines, _vocabulary(doc_type))
    assign_owners(segments)
    found = _collect(layout, segments, lines)
    _scan(layout, lines, found)
    _join_model(found)
    if doc_type is DocType.ID_CARD:
        missing = {
            key
            for key in layout.keys
            if not any(FIELDS[key].validate(c.value) is None for c in found.get(key, []))
        }

        def add(key: str, value: str, confidence: float, weakest: float, box: list) -> None:
            penalised = confidence * POSITION_PENALTY
            found[key].append(_Candidate(value, penalised, list(box), False, weakest))

        read_by_position(lines, missing, add)

    fields: dict[str, FieldReading] = {}
    notes: list[str] = []
    for key in layout.keys:
        if found.get(key):
            fields[key], extra = _choose(FIELDS[key], found[key])
            notes += extra
        elif key in layout.required:
            fields[key] = FieldReading(value=None, issue="not found on the document")
    if doc_type is DocType.ID_CARD:
        _cross_check_id_card(fields)
    if review is not None:
        review(doc_type, fields)
    return _judge(layout, fields, notes)


def line_values(doc_type: DocType, key: str, line: OcrLine) -> list[str]:
    """What extraction makes of field ``key`` in this one line alone: the value
    after the field's label if the line holds it, else what each bare piece of
    the line reads as, plus what the field's shape finds in the line.  For
    comparing another engine's reading of the line a value came from."""
    spec = FIELDS[key]
    layout = LAYOUTS[doc_type]
    segments = split_lines([line], _vocabulary(doc_type))
    labelled = [s for s in segments if s.label and key in layout.keys_for(s.label) and s.text]
    pieces = labelled or [s for s in segments if not s.label]
    values = [spec.pick(piece.text) for piece in pieces]
    if spec.scan is not None and not labelled:
        values += spec.scan(scored_text(line)[0])
    return list(dict.fromkeys(v for v in values if v))


def _judge(layout: DocLayout, fields: dict[str, FieldReading], notes: list[str]) -> DocumentReading:
    issues = list(notes)
    needs_review = bool(notes)
    for key, reading in fields.items():
        title = FIELDS[key].title
        required = key in layout.required
        if reading.value is None:
            issues.append(f"{title} is missing")
            # An optional field may simply not be printed on this form.
            needs_review = needs_review or required
            continue
        if not reading.valid:
            issues.append(f"{title} {reading.value!r} is invalid: {reading.issue}")
        elif reading.confidence < CONFIDENCE_FLOOR:
            reading.issue = reading.issue or f"read with low confidence ({reading.confidence:.2f})"
            issues.append(f"{title} {reading.value!r} {reading.issue}; please check it")
        elif reading.doubts:
            reading.issue = reading.issue or "; ".join(d.detail for d in reading.doubts)
            issues.append(f"{title} {reading.value!r}: {reading.issue}; please check it")
        elif reading.weakest_char is not None and reading.weakest_char < WEAK_CHARACTER_FLOOR:
            reading.issue = reading.issue or (
                f"has a character read with low confidence ({reading.weakest_char:.2f})"
            )
            issues.append(f"{title} {reading.value!r} {reading.issue}; please check it")
        else:
            continue
        # A value that is shown but doubtful is worth a look, required or not.
        needs_review = True
    return DocumentReading(
        doc_type=layout.doc_type, fields=fields, needs_review=needs_review, issues=issues
    )
