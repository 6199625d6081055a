"""The RapidOCR engine's own pieces: which part of a page the detector sees,
how line crops are batched, and the label matcher's edit distance."""

from __future__ import annotations

import random

import numpy as np
import pytest

from activities.ocr.engine import (
    INK_MARGIN_MIN,
    REC_BATCH,
    REC_WIDTH_SPREAD,
    _like_width_batches,
    inked_area,
)
from activities.ocr.labels import edits_apart


def _levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def test_edits_apart_agrees_with_levenshtein_up_to_two():
    rng = random.Random(3)
    for _ in range(20_000):
        a = "".join(rng.choice("姓名ab") for _ in range(rng.randrange(7)))
        b = "".join(rng.choice("姓名ab") for _ in range(rng.randrange(7)))
        assert edits_apart(a, b) == min(_levenshtein(a, b), 2), (a, b)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [("身份证号", "身份证号", 0), ("身份证号", "身份正号", 1), ("身份证号", "身份证", 1),
     ("身份证号", "身份证号码", 1), ("身份证号", "份证号码", 2), ("", "姓名", 2)],
)  # fmt: skip
def test_edits_apart_examples(a, b, expected):
    assert edits_apart(a, b) == expected


def test_inked_area_is_the_text_plus_a_margin():
    page = np.full((1000, 800, 3), 255, np.uint8)
    page[100:140, 200:500] = 0  # a line of "text"
    page[600:620, 150:400] = 30
    rows, cols = inked_area(page)
    margin = max(INK_MARGIN_MIN, round(0.02 * 1000))
    assert (rows.start, rows.stop) == (100 - margin, 620 + margin)
    assert (cols.start, cols.stop) == (150 - margin, 500 + margin)


def test_inked_area_of_a_blank_page_or_ink_at_the_edge_is_clipped_to_the_page():
    blank = np.full((300, 400, 3), 255, np.uint8)
    assert inked_area(blank) == (slice(0, 300), slice(0, 400))
    edge = blank.copy()
    edge[0:5, 390:400] = 0
    rows, cols = inked_area(edge)
    assert rows.start == 0 and cols.stop == 400


def test_crops_are_batched_only_with_crops_of_like_width():
    rng = random.Random(5)
    ratios = [rng.uniform(1, 30) for _ in range(60)]
    batches = _like_width_batches(ratios)
    assert sorted(i for batch in batches for i in batch) == list(range(60))
    for batch in batches:
        widths = [ratios[i] for i in batch]
        assert widths == sorted(widths)
        assert len(batch) <= REC_BATCH
        assert widths[-1] <= widths[0] * REC_WIDTH_SPREAD
    assert _like_width_batches([]) == []
