"""OCR engines behind one small protocol.

Engines are synchronous and CPU-bound; the activity and the CLI call them from
a worker thread.  Models load once per engine object, so callers build one
engine per process and reuse it.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

Point = tuple[float, float]

# The detector works on a downscaled copy: it finds lines 15+ px high reliably,
# which an A4 page keeps at ~1280 px on the long side, and larger inputs only
# cost time on a 2-core worker.
MAX_DETECT_SIDE = 1280
MIN_LINE_SCORE = 0.3
# Below this line height (detector pixels) detection gets unreliable, so the
# page is detected again at a resolution that brings lines to the second figure.
MIN_TEXT_HEIGHT = 14
COMFORTABLE_TEXT_HEIGHT = 24


@dataclass(frozen=True)
class OcrLine:
    """One recognised text line: its text, the engine's score (0..1), and its
    quadrilateral in page pixels (top-left, top-right, bottom-right, bottom-left)."""

    text: str
    confidence: float
    box: list[Point]


@runtime_checkable
class OcrEngine(Protocol):
    name: str

    def recognize(self, image: np.ndarray) -> list[OcrLine]:
        """OCR one BGR page; lines come back in reading order."""
        ...


class OcrEngineUnavailable(RuntimeError):
    """The configured engine cannot run here (package or models missing)."""


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


class RapidOcrEngine:
    """PP-OCRv4 detection + recognition on ONNX Runtime (models ship in the wheel).

    Detection runs on a copy shrunk to ``detect_side``; recognition crops the
    found lines from the full-resolution page, so small print keeps its detail
    while the detector (the cost that grows with pixels) stays cheap.
    """

    name = "rapidocr"

    def __init__(self, *, detect_side: int = MAX_DETECT_SIDE, threads: int | None = None) -> None:
        from rapidocr_onnxruntime import RapidOCR

        self._ocr = RapidOCR(
            # Pages reach us upright (EXIF applied, PDFs rendered); the 180° line
            # classifier would be a third model pass for nothing.
            use_cls=False,
            # ONNX Runtime's default (-1) oversubscribes small machines; one thread
            # per core and no inter-op pool was ~2x faster on a 2-core worker.
            intra_op_num_threads=threads or min(os.cpu_count() or 1, 4),
            inter_op_num_threads=1,
        )
        self._detect_side = detect_side

    def _detect(self, image: np.ndarray) -> list[np.ndarray]:
        small, scale = _downscale(image, self._detect_side)
        boxes, _elapsed = self._ocr.text_det(small)
        if boxes is None or len(boxes) == 0:
            return []
        heights = sorted(float(np.linalg.norm(box[3] - box[0])) for box in boxes)
        typical = heights[len(heights) // 2]
        if scale < 1.0 and typical < MIN_TEXT_HEIGHT:
            # Small print (a card photographed from afar): detect again at the
            # resolution that brings it to a comfortable height.
            scale = min(1.0, scale * COMFORTABLE_TEXT_HEIGHT / max(typical, 1.0))
            small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            boxes, _elapsed = self._ocr.text_det(small)
            if boxes is None or len(boxes) == 0:
                return []
        return [np.asarray(box, dtype=np.float32) / scale for box in self._ocr.sorted_boxes(boxes)]

    def recognize(self, image: np.ndarray) -> list[OcrLine]:
        boxes = self._detect(image)
        if not boxes:
            return []
        crops = self._ocr.get_crop_img_list(image, boxes)
        results, _elapsed = self._ocr.text_rec(crops, False)
        return [
            OcrLine(text=text, confidence=float(score), box=[(float(x), float(y)) for x, y in box])
            for box, (text, score, *_rest) in zip(boxes, results, strict=True)
            # Weak lines are kept: the extractor weighs confidence itself, and a
            # faint value under a seal is better flagged for review than dropped.
            if text.strip() and score >= MIN_LINE_SCORE
        ]


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
                "paddleocr is not installed; install the 'paddle' extra or use rapidocr"
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


def build_engine(name: str, model_dir: Path | None = None) -> OcrEngine:
    """The engine called ``name`` (``rapidocr`` or ``paddleocr``)."""
    key = name.strip().lower()
    if key == "rapidocr":
        return RapidOcrEngine()
    if key == "paddleocr":
        return PaddleOcrEngine(model_dir)
    raise OcrEngineUnavailable(f"unknown OCR engine {name!r}; choose rapidocr or paddleocr")
