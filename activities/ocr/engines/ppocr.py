"""PP-OCR detection and recognition on ONNX Runtime, for any model set in the
catalogue (v4, v5 mobile, v6 small and tiny share the DB detector and the CTC
recogniser; they differ in files, alphabet and detector tuning).

Detection runs on the page's inked area shrunk to ``detect_side``; recognition
crops the found lines from the full-resolution page, so small print keeps its
detail while the detector (the cost that grows with pixels) stays cheap.
RapidOCR supplies the ONNX sessions and the DB box post-processing; the
pre-processing, batching and decoding are ours (see the constants below).
"""

from __future__ import annotations

import os

import cv2
import numpy as np

from activities.ocr.engines.base import CropText, OcrLine
from activities.ocr.engines.catalogue import PPOCR_V4, PpOcrModels

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
# Lines whose top edges lie this close (detector pixels) are one row, read left
# to right (RapidOCR's rule).
SAME_ROW = 10
# Recognition pads every crop of a batch to the widest one, and on a CPU that
# padding costs more than the per-call overhead batching saves (RapidOCR's
# batches of 6 mixed widths, each padded to at least 320 px, were ~12 % slower
# per page than one crop at a time). So crops are batched only with crops of
# nearly the same width, and never padded beyond their own width.
REC_BATCH = 8
REC_WIDTH_SPREAD = 1.1
# Short crops are still padded to the model's training width (320 x 48): a crop
# of one or two characters read less reliably without it, and costs little.
REC_HEIGHT = 48
REC_MIN_RATIO = 320 / 48
CTC_BLANK = 0


def _detector_side(length: float) -> int:
    return max(DETECT_MULTIPLE, round(length / DETECT_MULTIPLE) * DETECT_MULTIPLE)


def _session_config(model_path: str, threads: int | None) -> dict:
    return {
        "model_path": model_path,
        "use_cuda": False,
        "use_dml": False,
        # ONNX Runtime's default (-1) oversubscribes small machines; one thread
        # per core and no inter-op pool was ~2x faster on a 2-core worker.
        "intra_op_num_threads": threads or min(os.cpu_count() or 1, 4),
        "inter_op_num_threads": 1,
    }


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


def crop_line(page: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The quadrilateral ``box`` (TL, TR, BR, BL) of ``page`` warped flat; a crop
    much taller than wide is a vertical line and is turned to run across."""
    points = np.asarray(box, dtype=np.float32)
    width = int(max(np.linalg.norm(points[0] - points[1]), np.linalg.norm(points[2] - points[3])))
    height = int(max(np.linalg.norm(points[0] - points[3]), np.linalg.norm(points[1] - points[2])))
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(points, target)
    crop = cv2.warpPerspective(
        page, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC
    )
    if crop.shape[0] >= 1.5 * crop.shape[1]:
        crop = np.rot90(crop)
    return crop


def _reading_order(boxes: np.ndarray) -> list[np.ndarray]:
    """Boxes top to bottom, and left to right within a row."""
    ordered = sorted(boxes, key=lambda box: (box[0][1], box[0][0]))
    for i in range(len(ordered) - 1):
        for j in range(i, -1, -1):
            same_row = abs(ordered[j + 1][0][1] - ordered[j][0][1]) < SAME_ROW
            if not (same_row and ordered[j + 1][0][0] < ordered[j][0][0]):
                break
            ordered[j], ordered[j + 1] = ordered[j + 1], ordered[j]
    return ordered


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


class PpLineDetector:
    """A DB text detector: line quadrilaterals in page pixels, in reading order."""

    def __init__(
        self, models: PpOcrModels, *, detect_side: int = MAX_DETECT_SIDE, threads: int | None
    ) -> None:
        from rapidocr_onnxruntime.ch_ppocr_det import TextDetector

        tuning = models.detector
        config = _session_config(str(models.det_path), threads) | {
            "limit_side_len": DETECT_MIN_SHORT_SIDE,
            "limit_type": "min",
            "mean": list(tuning.mean),
            "std": list(tuning.std),
            "thresh": tuning.thresh,
            "box_thresh": tuning.box_thresh,
            "max_candidates": tuning.max_candidates,
            "unclip_ratio": tuning.unclip_ratio,
            "use_dilation": tuning.use_dilation,
            "score_mode": "fast",
        }
        self._detector = TextDetector(config)
        std = np.array(tuning.std, dtype=np.float32)
        # (pixel / 255 - mean) / std as one multiply and one subtract, in float32:
        # RapidOCR's float64 pre-processing gives the model the same input ~25 ms
        # a page slower.
        self._scale = (1.0 / (255.0 * std)).astype(np.float32)
        self._offset = (np.array(tuning.mean, dtype=np.float32) / std).astype(np.float32)
        self._detect_side = detect_side

    def _detect_scale(self, page: np.ndarray) -> float:
        """Detector pixels per page pixel: the long side brought down to
        ``detect_side``, but (as PaddleOCR does) a short side of at least 736."""
        height, width = page.shape[:2]
        scale = min(1.0, self._detect_side / max(height, width))
        return max(scale, DETECT_MIN_SHORT_SIDE / min(height, width))

    def _text_boxes(self, page: np.ndarray, scale: float) -> np.ndarray:
        """Text quadrilaterals in page pixels, the detector looking at the page's
        inked area at ``scale`` detector pixels per page pixel."""
        detector = self._detector
        rows, cols = inked_area(page)
        region = page[rows, cols]
        height, width = region.shape[:2]
        size = (_detector_side(width * scale), _detector_side(height * scale))
        shrink = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
        resized = cv2.resize(region, size, interpolation=shrink).astype(np.float32)
        tensor = (resized * self._scale - self._offset).transpose(2, 0, 1)[np.newaxis]
        predictions = detector.infer(np.ascontiguousarray(tensor))[0]
        boxes, _scores = detector.postprocess_op(predictions, (height, width))
        if len(boxes) == 0:
            return np.zeros((0, 4, 2), dtype=np.float32)
        boxes = detector.filter_tag_det_res(boxes, (height, width)).astype(np.float32)
        return boxes + np.array([cols.start, rows.start], dtype=np.float32)

    def detect(self, page: np.ndarray) -> list[np.ndarray]:
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
        # Rows are told apart in detector pixels, as RapidOCR does.
        return [box / scale for box in _reading_order(boxes * scale)]


class PpLineRecognizer:
    """A CTC text recogniser: the text of line crops, with each character's score.

    It is also the second opinion's reader (``second_opinion.py``), which needs
    no detector, so it loads on its own.
    """

    def __init__(self, models: PpOcrModels, *, threads: int | None = None) -> None:
        from rapidocr_onnxruntime.ch_ppocr_rec import TextRecognizer

        dictionary = models.dictionary_path
        config = _session_config(str(models.rec_path), threads) | {
            "rec_batch_num": REC_BATCH,
            "rec_img_shape": [3, REC_HEIGHT, round(REC_HEIGHT * REC_MIN_RATIO)],
        }
        if dictionary is not None:
            config["rec_keys_path"] = str(dictionary)
        self._recognizer = TextRecognizer(config)
        # The model's input says the height it was trained at (v4's leaves it open).
        height = self._recognizer.session.session.get_inputs()[0].shape[2]
        if isinstance(height, int):
            self._recognizer.rec_image_shape = [3, height, round(height * REC_MIN_RATIO)]
        # The alphabet: the CTC blank, the dictionary's symbols, then a space.
        self._alphabet = self._recognizer.postprocess_op.character
        self.name = models.name

    def read_crops(self, crops: list[np.ndarray]) -> list[CropText]:
        """(text, character scores) for each line crop, batching only crops of
        like width."""
        recognizer = self._recognizer
        ratios = [crop.shape[1] / crop.shape[0] for crop in crops]
        results = [CropText("", ())] * len(crops)
        for batch in _like_width_batches(ratios):
            widest = max(ratios[batch[-1]], REC_MIN_RATIO)
            tensor = np.stack([recognizer.resize_norm_img(crops[i], widest) for i in batch])
            predictions = recognizer.session(tensor)[0]
            for i, steps in zip(batch, predictions, strict=True):
                results[i] = self._decode(steps)
        return results

    def _decode(self, steps: np.ndarray) -> CropText:
        """Greedy CTC decoding of one crop, as RapidOCR does it, but keeping
        every character's probability."""
        index = steps.argmax(axis=1)
        probability = steps.max(axis=1)
        keep = index != CTC_BLANK
        keep[1:] &= index[1:] != index[:-1]
        text, scores = [], []
        for token, score in zip(index[keep], probability[keep], strict=True):
            symbol = self._alphabet[token]
            text.append(symbol)
            scores.extend([float(score)] * len(symbol))
        return CropText("".join(text), tuple(scores))


class PpOcrEngine:
    """Detection + recognition with one PP-OCR model set (see the catalogue)."""

    def __init__(
        self,
        models: PpOcrModels,
        *,
        detect_side: int = MAX_DETECT_SIDE,
        threads: int | None = None,
    ) -> None:
        self.name = models.name
        self.detector = PpLineDetector(models, detect_side=detect_side, threads=threads)
        self.recognizer = PpLineRecognizer(models, threads=threads)

    def read_crops(self, crops: list[np.ndarray]) -> list[CropText]:
        return self.recognizer.read_crops(crops)

    def recognize(self, image: np.ndarray) -> list[OcrLine]:
        boxes = self.detector.detect(image)
        if not boxes:
            return []
        crops = [crop_line(image, box) for box in boxes]
        lines = []
        for box, (text, scores) in zip(boxes, self.read_crops(crops), strict=True):
            score = sum(scores) / len(scores) if scores else 0.0
            # Weak lines are kept: the extractor weighs confidence itself, and a
            # faint value under a seal is better flagged for review than dropped.
            if text.strip() and score >= MIN_LINE_SCORE:
                corners = [(float(x), float(y)) for x, y in box]
                lines.append(OcrLine(text, score, corners, char_scores=scores))
        return lines


class RapidOcrEngine(PpOcrEngine):
    """PP-OCRv4, the models inside ``rapidocr-onnxruntime`` (the first engine we ran)."""

    def __init__(self, *, detect_side: int = MAX_DETECT_SIDE, threads: int | None = None) -> None:
        super().__init__(PPOCR_V4, detect_side=detect_side, threads=threads)
