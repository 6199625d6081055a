"""Each character's own score for a value an extractor picked out of a line.

A line's score is the mean of its characters' and hides the one it misread; a
prior's doubt about a look-alike character needs that character's score, and
the picker may have dropped separators or folded O/I on the way."""

from __future__ import annotations

from activities.ocr.engine import OcrLine
from activities.ocr.layout import Segment, scored_text

# What pickers drop from a code (京A·12345, 12-3) and the look-alikes they fold.
_SEPARATORS = frozenset(" ·.-_/|:")
_FOLD = str.maketrans("OI", "01")


def _folded(text: str) -> tuple[str, list[int]]:
    """``text`` upper-cased, without separators, O/I as 0/1; and where each
    of its characters stands in ``text``."""
    kept = []
    for i, ch in enumerate(text):
        if ch not in _SEPARATORS:
            upper = ch.upper() if len(ch.upper()) == 1 else ch
            kept.append((upper.translate(_FOLD), i))
    return "".join(c for c, _ in kept), [i for _, i in kept]


def value_scores(value: str, text: str, scores: list[float]) -> tuple[float, ...] | None:
    """The score of each character of ``value`` as read in ``text`` (None when
    the picker changed it beyond case, separators and O/I).  A priors' doubt
    about one look-alike character needs that character's own score."""
    folded_value, value_at = _folded(value)
    folded_text, text_at = _folded(text)
    start = folded_text.find(folded_value) if folded_value else -1
    if start < 0:
        return None
    out = [1.0] * len(value)  # a separator has no look-alike to doubt
    for k, at in enumerate(value_at):
        out[at] = scores[text_at[start + k]]
    return tuple(out)


def piece_scores(piece: Segment, lines: list[OcrLine]) -> list[float]:
    text, scores = scored_text(lines[piece.line_index])
    start = text.find(piece.text)
    if start < 0:
        return [piece.weakest] * len(piece.text)
    return scores[start : start + len(piece.text)]
