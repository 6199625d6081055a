"""OCR engines behind one small protocol, and the names they are chosen by.

``JIEYA_OCR_ENGINE`` names the engine that reads every page; a second one
(``JIEYA_OCR_SECOND_ENGINE``) lends only its recogniser to re-read identity
fields (``second_opinion.py``).  The PP-OCR engines (v4, v5 mobile, v6 small
and tiny) run on ONNX Runtime with models that ship in wheels we depend on
(``engines/catalogue.py``); PaddleOCR is an optional adapter for workers that
have it and its models installed.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import cv2
import numpy as np

from activities.ocr.engines.base import (
    CropText,
    LineRecognizer,
    OcrEngine,
    OcrEngineUnavailable,
    OcrLine,
    Point,
)
from activities.ocr.engines.catalogue import MODEL_SETS
from activities.ocr.engines.ppocr import (
    INK_MARGIN_MIN,
    MAX_DETECT_SIDE,
    MIN_LINE_SCORE,
    REC_BATCH,
    REC_WIDTH_SPREAD,
    PpLineRecognizer,
    PpOcrEngine,
    RapidOcrEngine,
    _like_width_batches,
    crop_line,
    inked_area,
)

__all__ = [
    "ENGINE_NAMES",
    "INK_MARGIN_MIN",
    "REC_BATCH",
    "REC_WIDTH_SPREAD",
    "CropText",
    "LineRecognizer",
    "OcrEngine",
    "OcrEngineUnavailable",
    "OcrLine",
    "PaddleOcrEngine",
    "Point",
    "PpOcrEngine",
    "RapidOcrEngine",
    "_like_width_batches",
    "build_engine",
    "build_recognizer",
    "crop_line",
    "engine_key",
    "inked_area",
]

# Older names still accepted in configuration: `rapidocr` was the only engine
# before PP-OCRv5/v6 arrived, and ran PP-OCRv4.
_ALIASES = {"ppocrv6-small": "ppocrv6", "rapidocr": "ppocrv4"}
ENGINE_NAMES = (*MODEL_SETS, "paddleocr")


def _downscale(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    height, width = image.shape[:2]
    scale = min(1.0, max_side / max(height, width))
    if scale == 1.0:
        return image, 1.0
    size = (round(width * scale), round(height * scale))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), scale


def _to_lines(raw: list, scale: float) -> list[OcrLine]:
    lines = []
    for box, text, score in raw:
        points = [(float(x) / scale, float(y) / scale) for x, y in box]
        if text.strip() and score >= MIN_LINE_SCORE:
            lines.append(OcrLine(text=text, confidence=float(score), box=points))
    return lines


class PaddleOcrEngine:
    """PaddleOCR, for GPU workers that have its models installed locally.

    Never downloads: ``model_dir`` must hold ``det``, ``rec`` (and optionally
    ``cls``) inference model directories.
    """

    name = "paddleocr"

    def __init__(self, model_dir: Path | None, *, detect_side: int = MAX_DETECT_SIDE) -> None:
        if model_dir is None:
            raise OcrEngineUnavailable(
                "PaddleOCR needs a local model directory (set JIEYA_PADDLE_MODEL_DIR)"
            )
        missing = [sub for sub in ("det", "rec") if not (model_dir / sub).is_dir()]
        if missing:
            raise OcrEngineUnavailable(
                f"PaddleOCR model directory {model_dir} lacks {', '.join(missing)}/"
            )
        try:
            paddleocr = importlib.import_module("paddleocr")
        except ImportError as exc:
            raise OcrEngineUnavailable(
                "paddleocr is not installed; install the 'paddle' extra or use ppocrv4"
            ) from exc
        cls_dir = model_dir / "cls"
        try:
            # The PaddleOCR 2.x API (the `paddle` extra pins it below 3).
            self._ocr = paddleocr.PaddleOCR(
                det_model_dir=str(model_dir / "det"),
                rec_model_dir=str(model_dir / "rec"),
                cls_model_dir=str(cls_dir) if cls_dir.is_dir() else None,
                use_angle_cls=False,
                lang="ch",
                show_log=False,
            )
        except Exception as error:
            raise OcrEngineUnavailable(f"PaddleOCR failed to start: {error}") from error
        self._detect_side = detect_side

    def recognize(self, image: np.ndarray) -> list[OcrLine]:
        small, scale = _downscale(image, self._detect_side)
        pages = self._ocr.ocr(small, cls=False) or []
        raw = [(box, text, score) for page in pages for box, (text, score) in (page or [])]
        return _to_lines(raw, scale)


def engine_key(name: str) -> str:
    """The canonical engine name for ``name`` (an alias or any letter case)."""
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in ENGINE_NAMES:
        choices = ", ".join([*MODEL_SETS, *_ALIASES])
        raise OcrEngineUnavailable(f"unknown OCR engine {name!r}; choose {choices} or paddleocr")
    return key


def build_engine(name: str, model_dir: Path | None = None) -> OcrEngine:
    """The engine called ``name`` (see ``ENGINE_NAMES``; ``rapidocr`` is ``ppocrv4``)."""
    key = engine_key(name)
    if key == "paddleocr":
        return PaddleOcrEngine(model_dir)
    return PpOcrEngine(MODEL_SETS[key])


def build_recognizer(name: str) -> LineRecognizer:
    """Only the recogniser of engine ``name``: what a second opinion needs."""
    key = engine_key(name)
    if key == "paddleocr":
        raise OcrEngineUnavailable(
            "PaddleOCR cannot give a second opinion; choose one of " + ", ".join(MODEL_SETS)
        )
    return PpLineRecognizer(MODEL_SETS[key])
