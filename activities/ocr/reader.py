"""The one path from uploaded bytes to a checked ``DocumentReading``.

Both the OCR activity and ``jieya ocr`` go through ``DocumentReader.read``, so
what an operator sees from the CLI is what the workflow decided on.
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from activities.ocr.engine import (
    LineRecognizer,
    OcrEngine,
    OcrLine,
    build_engine,
    build_recognizer,
    engine_key,
)
from activities.ocr.extract import DocumentReading, classify, extract_fields
from activities.ocr.images import load_pages
from activities.ocr.preprocess import prepare_page
from activities.ocr.second_opinion import ReadPage, SecondOpinion
from models.enums import DocType

_DOC_NAMES = {
    DocType.SETTLEMENT_CERTIFICATE: "a settlement certificate (结清证明)",
    DocType.ID_CARD: "an ID card (居民身份证)",
    DocType.VEHICLE_REGISTRATION_CERTIFICATE: "a vehicle registration certificate (机动车登记证书)",
    DocType.DRIVING_LICENSE: "a driving licence (机动车行驶证)",
}


# A page reads as upright when most of its text runs horizontally and the engine
# is fairly sure of it; sideways or upside-down text reads as confident garbage
# far less often than as low-scoring garbage.
UPRIGHT_SCORE = 0.75
_SIDEWAYS_TURNS = (cv2.ROTATE_90_CLOCKWISE, cv2.ROTATE_90_COUNTERCLOCKWISE)
_UPSIDE_DOWN_TURNS = (cv2.ROTATE_180,)


def _reading_score(lines: list[OcrLine]) -> tuple[float, float]:
    """(share of text in horizontal lines, length-weighted mean confidence)."""
    chars = sum(len(line.text) for line in lines)
    if not chars:
        return 0.0, 0.0
    horizontal = 0
    for line in lines:
        (x0, y0), (x1, y1), _, (x3, y3) = line.box
        if abs(x1 - x0) + abs(y1 - y0) >= abs(x3 - x0) + abs(y3 - y0):
            horizontal += len(line.text)
    confidence = sum(line.confidence * len(line.text) for line in lines) / chars
    return horizontal / chars, confidence


def _upright_score(lines: list[OcrLine]) -> float:
    horizontal, confidence = _reading_score(lines)
    return horizontal * confidence * sum(len(line.text) for line in lines)


def _stack(pages: list[ReadPage]) -> list[OcrLine]:
    """Merge pages into one tall page so geometry never pairs lines across pages."""
    merged: list[OcrLine] = []
    offset = 0.0
    for page in pages:
        for line in page.lines:
            box = [(x, y + offset) for x, y in line.box]
            merged.append(OcrLine(line.text, line.confidence, box, line.char_scores))
        offset += page.image.shape[0]
    return merged


# Bumped whenever reading changes what a page yields (extraction or review
# rules): cached readings are keyed by it, so an upgraded OCR worker reads a
# file again instead of serving what an older version concluded.
READER_VERSION = 3


class DocumentReader:
    """Decode, OCR, classify and extract; synchronous, so run it in a thread.

    With a ``second`` recogniser, identity fields are read again by another
    engine and flagged where it disagrees (``second_opinion.py``).
    """

    def __init__(self, engine: OcrEngine, second: LineRecognizer | None = None) -> None:
        self.engine = engine
        self.second = SecondOpinion(second) if second is not None else None

    @property
    def version(self) -> str:
        """Engines and reader version, as cached and recorded with each reading:
        a reading made without (or with another) second engine is not reused."""
        engines = self.engine.name + (f"+{self.second.name}" if self.second else "")
        return f"{engines}/r{READER_VERSION}"

    def read_pages(self, data: bytes) -> list[ReadPage]:
        """Every page of the upload, turned upright, with the lines read on it."""
        return [ReadPage(*self._read_upright(prepare_page(page))) for page in load_pages(data)]

    def ocr_lines(self, data: bytes) -> tuple[list[OcrLine], int]:
        """All text lines of the upload (pages stacked) and the page count."""
        pages = self.read_pages(data)
        return _stack(pages), len(pages)

    def _read_upright(self, image: np.ndarray) -> tuple[np.ndarray, list[OcrLine]]:
        """OCR the page, turning it by 90/180 degrees when it was scanned sideways
        or upside down (PDFs and EXIF-less photos carry no orientation)."""
        lines = self.engine.recognize(image)
        horizontal, confidence = _reading_score(lines)
        if not lines or (horizontal >= 0.6 and confidence >= UPRIGHT_SCORE):
            return image, lines
        best = (_upright_score(lines), image, lines)
        # Text running vertically means a quarter turn; horizontal but unreadable
        # text means the page is upside down.
        for turn in _SIDEWAYS_TURNS if horizontal < 0.5 else _UPSIDE_DOWN_TURNS:
            turned = cv2.rotate(image, turn)
            attempt = self.engine.recognize(turned)
            score = _upright_score(attempt)
            if score > best[0]:
                best = (score, turned, attempt)
            horizontal, confidence = _reading_score(attempt)
            if horizontal >= 0.6 and confidence >= UPRIGHT_SCORE:
                break
        return best[1], best[2]

    def read(self, data: bytes, doc_type: DocType | None = None) -> DocumentReading:
        """Read ``data`` as ``doc_type`` (None: work out which document it is).

        Raises ``images.DocumentError`` when the bytes are not a readable document.
        """
        started = time.perf_counter()
        reading = self.read_from(self.read_pages(data), doc_type)
        reading.ms = round((time.perf_counter() - started) * 1000)
        return reading

    def read_from(self, pages: list[ReadPage], doc_type: DocType | None) -> DocumentReading:
        """Classify, extract and judge pages already read (``read_pages``)."""
        lines = _stack(pages)
        detected = classify(lines)
        resolved = doc_type or detected
        if resolved is None:
            reading = DocumentReading(
                doc_type=None,
                needs_review=True,
                issues=["could not tell which of the four documents this is"],
            )
        else:
            review = self.second.reviewer(pages) if self.second else None
            reading = extract_fields(resolved, lines, review)
            if doc_type is not None and detected is not None and detected != doc_type:
                reading.needs_review = True
                reading.issues.insert(
                    0, f"uploaded as {doc_type.value} but looks like {_DOC_NAMES[detected]}"
                )
        if not lines:
            reading.issues.insert(0, "no text found; the image may be blank or too blurred")
        reading.pages = len(pages)
        return reading


def build_reader(
    engine: str, second: str | None = None, model_dir: Path | None = None
) -> DocumentReader:
    """A reader on engine ``engine``, with ``second``'s recogniser giving a second
    opinion (None, "" or "none": no second opinion)."""
    primary = build_engine(engine, model_dir)
    if not second or second.strip().lower() == "none":
        return DocumentReader(primary)
    key = engine_key(second)
    # The same engine twice only re-reads its own crops: share its recogniser.
    same = key == engine_key(engine) and isinstance(primary, LineRecognizer)
    return DocumentReader(primary, primary if same else build_recognizer(key))
