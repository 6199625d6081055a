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
# The detector wants sides in multiples of 32 and, like PaddleOCR, a short side of
# at least 736 px (small photos are enlarged to it).
DETECT_MULTIPLE = 32
DETECT_MIN_SHORT_SIDE = 736
# Only a page's inked area goes through the detector, whose cost grows with
# pixels: a form's margins and a certificate's empty lower half are often half
# the page.  The margin keeps room for the detector's box expansion.
INK_LEVEL = 200
INK_MARGIN = 0.02
INK_MARGIN_MIN = 16
# Recognition pads every crop of a batch to the widest one, and on a CPU that
# padding costs more than the per-call overhead batching saves (RapidOCR's
# batches of 6 mixed widths, each padded to at least 320 px, were ~12 % slower
# per page than one crop at a time). So crops are batched only with crops of
# nearly the same width, and never padded beyond their own width.
REC_BATCH = 8
REC_WIDTH_SPREAD = 1.1
# Short crops are still padded to the model's training width (320 x 48): a crop
# of one or two characters read less reliably without it, and costs little.
REC_MIN_RATIO = 320 / 48
CTC_BLANK = 0


@dataclass(frozen=True)
class OcrLine:
    """One recognised text line: its text, the engine's score (0..1), and its
    quadrilateral in page pixels (top-left, top-right, bottom-right, bottom-left)."""

    text: str
    confidence: float
    box: list[Point]
    # Each character's score, aligned with ``text``, when the engine gives them:
    # a line's mean hides the one character it misread (江途 for 江远 scores 0.96
    # as a line, 0.29 on 途).  Empty when unknown.
    char_scores: tuple[float, ...] = ()


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


def _detector_side(length: float) -> int:
    return max(DETECT_MULTIPLE, round(length / DETECT_MULTIPLE) * DETECT_MULTIPLE)


def inked_area(page: np.ndarray) -> tuple[slice, slice]:
    """Rows and columns of ``page`` that hold ink, with a margin; the whole page
    when nothing on it is dark.

    Pages come flattened (paper pushed to white, see ``preprocess``), so anything
    clearly darker than paper counts; a speck of dirt only widens the area.
    """
    grey = cv2.cvtColor(page, cv2.COLOR_BGR2GRAY) if page.ndim == 3 else page
    ink = grey < INK_LEVEL
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    height, width = grey.shape
    if rows.size == 0:
        return slice(0, height), slice(0, width)
    margin = max(INK_MARGIN_MIN, round(INK_MARGIN * max(height, width)))
    return (
        slice(max(0, int(rows[0]) - margin), min(height, int(rows[-1]) + 1 + margin)),
        slice(max(0, int(cols[0]) - margin), min(width, int(cols[-1]) + 1 + margin)),
    )


def _like_width_batches(ratios: list[float]) -> list[list[int]]:
    """Indices of crops, narrowest first, cut into batches whose widest crop is
    at most REC_WIDTH_SPREAD times the narrowest."""
    order = sorted(range(len(ratios)), key=ratios.__getitem__)
    batches: list[list[int]] = []
    for index in order:
        batch = batches[-1] if batches else None
        if (
            batch is None
            or len(batch) >= REC_BATCH
            or ratios[index] > ratios[batch[0]] * REC_WIDTH_SPREAD
        ):
            batches.append([index])
        else:
            batch.append(index)
    return batches


def _to_lines(raw: list, scale: float) -> list[OcrLine]:
    lines = []
    for box, text, score in raw:
        points = [(float(x) / scale, float(y) / scale) for x, y in box]
        if text.strip() and score >= MIN_LINE_SCORE:
            lines.append(OcrLine(text=text, confidence=float(score), box=points))
    return lines


class RapidOcrEngine:
    """PP-OCRv4 detection + recognition on ONNX Runtime (models ship in the wheel).

    Detection runs on the page's inked area shrunk to ``detect_side``;
    recognition crops the found lines from the full-resolution page, so small
    print keeps its detail while the detector (the cost that grows with pixels)
    stays cheap.  RapidOCR supplies the models and its box post-processing; the
    pre-processing, batching and decoding are ours (see the constants above).
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

    def _detect_scale(self, page: np.ndarray) -> float:
        """Detector pixels per page pixel: the long side brought down to
        ``detect_side``, but (as PaddleOCR does) a short side of at least 736."""
        height, width = page.shape[:2]
        scale = min(1.0, self._detect_side / max(height, width))
        return max(scale, DETECT_MIN_SHORT_SIDE / min(height, width))

    def _text_boxes(self, page: np.ndarray, scale: float) -> np.ndarray:
        """Text quadrilaterals in page pixels, the detector looking at the page's
        inked area at ``scale`` detector pixels per page pixel.

        RapidOCR's own pre-processing normalises in float64; doing it in float32
        here saves ~25 ms a page and gives the model the same input.
        """
        detector = self._ocr.text_det
        rows, cols = inked_area(page)
        region = page[rows, cols]
        height, width = region.shape[:2]
        size = (_detector_side(width * scale), _detector_side(height * scale))
        shrink = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
        resized = cv2.resize(region, size, interpolation=shrink).astype(np.float32)
        tensor = (resized * (2.0 / 255.0) - 1.0).transpose(2, 0, 1)[np.newaxis]
        predictions = detector.infer(np.ascontiguousarray(tensor))[0]
        boxes, _scores = detector.postprocess_op(predictions, (height, width))
        if len(boxes) == 0:
            return np.zeros((0, 4, 2), dtype=np.float32)
        boxes = detector.filter_tag_det_res(boxes, (height, width)).astype(np.float32)
        return boxes + np.array([cols.start, rows.start], dtype=np.float32)

    def _detect(self, page: np.ndarray) -> list[np.ndarray]:
        scale = self._detect_scale(page)
        boxes = self._text_boxes(page, scale)
        if len(boxes) == 0:
            return []
        heights = sorted(float(np.linalg.norm(box[3] - box[0])) * scale for box in boxes)
        typical = heights[len(heights) // 2]
        if scale < 1.0 and typical < MIN_TEXT_HEIGHT:
            # Small print (a card photographed from afar): detect again at the
            # resolution that brings it to a comfortable height.
            scale = min(1.0, scale * COMFORTABLE_TEXT_HEIGHT / max(typical, 1.0))
            boxes = self._text_boxes(page, scale)
            if len(boxes) == 0:
                return []
        # RapidOCR orders lines by rows it tells apart in detector pixels.
        return [box / scale for box in self._ocr.sorted_boxes(boxes * scale)]

    def _read_crops(self, crops: list[np.ndarray]) -> list[tuple[str, tuple[float, ...]]]:
        """(text, character scores) for each line crop, batching only crops of
        like width."""
        recognizer = self._ocr.text_rec
        ratios = [crop.shape[1] / crop.shape[0] for crop in crops]
        results: list[tuple[str, tuple[float, ...]]] = [("", ())] * len(crops)
        for batch in _like_width_batches(ratios):
            widest = max(ratios[batch[-1]], REC_MIN_RATIO)
            tensor = np.stack([recognizer.resize_norm_img(crops[i], widest) for i in batch])
            predictions = recognizer.session(tensor)[0]
            for i, steps in zip(batch, predictions, strict=True):
                results[i] = self._decode(steps)
        return results

    def _decode(self, steps: np.ndarray) -> tuple[str, tuple[float, ...]]:
        """Greedy CTC decoding of one crop, as RapidOCR does it, but keeping
        every character's probability."""
        alphabet = self._ocr.text_rec.postprocess_op.character
        index = steps.argmax(axis=1)
        probability = steps.max(axis=1)
        keep = index != CTC_BLANK
        keep[1:] &= index[1:] != index[:-1]
        text, scores = [], []
        for token, score in zip(index[keep], probability[keep], strict=True):
            symbol = alphabet[token]
            text.append(symbol)
            scores.extend([float(score)] * len(symbol))
        return "".join(text), tuple(scores)

    def recognize(self, image: np.ndarray) -> list[OcrLine]:
        boxes = self._detect(image)
        if not boxes:
            return []
        crops = self._ocr.get_crop_img_list(image, boxes)
        lines = []
        for box, (text, scores) in zip(boxes, self._read_crops(crops), strict=True):
            score = sum(scores) / len(scores) if scores else 0.0
            # Weak lines are kept: the extractor weighs confidence itself, and a
            # faint value under a seal is better flagged for review than dropped.
            if text.strip() and score >= MIN_LINE_SCORE:
                corners = [(float(x), float(y)) for x, y in box]
                lines.append(OcrLine(text, score, corners, char_scores=scores))
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
