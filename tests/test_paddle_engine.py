"""PaddleOCR behind the same `OcrEngine` interface as RapidOCR.

The real-engine tests need the `paddleocr` package *and* local inference models
(``$JIEYA_PADDLE_MODEL_DIR`` holding ``det/`` and ``rec/``); neither can be
downloaded here, so they skip with the precise reason.  The refusal tests always
run: a worker configured for PaddleOCR without its models must fail at start-up
with `OcrEngineUnavailable` and a message an operator can act on.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest

from activities.ocr import engine as engine_module
from activities.ocr.doctypes import LAYOUTS
from activities.ocr.engine import (
    OcrEngine,
    OcrEngineUnavailable,
    OcrLine,
    PaddleOcrEngine,
    build_engine,
)
from activities.ocr.images import load_pages
from activities.ocr.reader import DocumentReader
from models.enums import DocType

FIXTURES = Path(__file__).parent / "fixtures" / "documents"
TRUTH = json.loads((FIXTURES / "truth.json").read_text(encoding="utf-8"))


# --- always: refusals -------------------------------------------------------------


def test_missing_model_dir_is_unavailable_with_a_clear_message(tmp_path):
    missing = tmp_path / "no-such-models"
    with pytest.raises(OcrEngineUnavailable) as caught:
        build_engine("paddleocr", missing)
    message = str(caught.value)
    assert str(missing) in message and "det" in message and "rec" in message, message


def test_no_model_dir_names_the_setting():
    with pytest.raises(OcrEngineUnavailable, match="JIEYA_PADDLE_MODEL_DIR"):
        build_engine("paddleocr", None)


def test_model_dir_without_rec_names_what_is_missing(tmp_path):
    (tmp_path / "det").mkdir()
    with pytest.raises(OcrEngineUnavailable) as caught:
        PaddleOcrEngine(tmp_path)
    assert "rec/" in str(caught.value) and "det" not in str(caught.value).split("lacks")[1]


def test_models_present_but_package_missing_is_unavailable(tmp_path, monkeypatch):
    for sub in ("det", "rec"):
        (tmp_path / sub).mkdir()
    real_import = importlib.import_module

    def no_paddle(name: str, *args, **kwargs):
        if name == "paddleocr":
            raise ImportError("No module named 'paddleocr'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(engine_module.importlib, "import_module", no_paddle)
    with pytest.raises(OcrEngineUnavailable, match="paddleocr is not installed"):
        build_engine("paddleocr", tmp_path)


def test_unknown_engine_name_is_unavailable():
    with pytest.raises(OcrEngineUnavailable, match="rapidocr or paddleocr"):
        build_engine("tesseract")


# --- where PaddleOCR and its models exist --------------------------------------------


@pytest.fixture(scope="module")
def paddle_engine() -> PaddleOcrEngine:
    if importlib.util.find_spec("paddleocr") is None:
        pytest.skip(
            "paddleocr not installed (pip install '.[paddle]'); it cannot be installed here"
        )
    configured = os.environ.get("JIEYA_PADDLE_MODEL_DIR")
    if not configured:
        pytest.skip(
            "PaddleOCR models not present: JIEYA_PADDLE_MODEL_DIR is not set "
            "(models cannot be downloaded here)"
        )
    model_dir = Path(configured)
    lacking = [sub for sub in ("det", "rec") if not (model_dir / sub).is_dir()]
    if lacking:
        pytest.skip(
            f"PaddleOCR models not present: {model_dir} lacks {', '.join(lacking)}/ "
            "(models cannot be downloaded here)"
        )
    return PaddleOcrEngine(model_dir)


def test_paddle_engine_speaks_the_engine_protocol(paddle_engine):
    assert isinstance(paddle_engine, OcrEngine)
    assert paddle_engine.name == "paddleocr"
    (page,) = load_pages((FIXTURES / "005_id_card_clean.png").read_bytes())
    lines = paddle_engine.recognize(page)
    assert lines and all(isinstance(line, OcrLine) for line in lines)
    height, width = page.shape[:2]
    for line in lines:
        assert line.text.strip() and 0 <= line.confidence <= 1
        assert len(line.box) == 4
        xs, ys = zip(*line.box, strict=True)
        # Boxes come back in page pixels, not the detector's downscaled ones.
        assert -5 <= min(xs) and max(xs) <= width + 5 and -5 <= min(ys) and max(ys) <= height + 5
    assert paddle_engine.recognize(np.full((200, 300, 3), 255, np.uint8)) == []


@pytest.mark.parametrize(
    "name", [n for n, e in TRUTH.items() if e["degradation"] == "clean" and not e["tampered"]]
)
def test_paddle_reads_clean_fixtures_through_the_document_reader(paddle_engine, name):
    entry = TRUTH[name]
    doc_type = DocType(entry["doc_type"])
    reading = DocumentReader(paddle_engine).read((FIXTURES / name).read_bytes(), doc_type)
    for key in LAYOUTS[doc_type].required:
        assert reading.fields[key].value == entry["fields"][key], (name, key, reading.fields)
