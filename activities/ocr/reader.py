"""The one path from uploaded bytes to a checked ``DocumentReading``.

Both the OCR activity and ``jieya ocr`` go through ``DocumentReader.read``, so
what an operator sees from the CLI is what the workflow decided on.
"""

from __future__ import annotations

import time

import numpy as np

from activities.ocr.engine import OcrEngine, OcrLine
from activities.ocr.extract import DocumentReading, classify, extract_fields
from activities.ocr.images import load_pages
from activities.ocr.preprocess import prepare_page
from models.enums import DocType

_DOC_NAMES = {
    DocType.SETTLEMENT_CERTIFICATE: "a settlement certificate (结清证明)",
    DocType.ID_CARD: "an ID card (居民身份证)",
    DocType.VEHICLE_REGISTRATION_CERTIFICATE: "a vehicle registration certificate (机动车登记证书)",
    DocType.DRIVING_LICENSE: "a driving licence (机动车行驶证)",
}


def _stack(pages: list[list[OcrLine]], images: list[np.ndarray]) -> list[OcrLine]:
    """Merge pages into one tall page so geometry never pairs lines across pages."""
    merged: list[OcrLine] = []
    offset = 0.0
    for lines, image in zip(pages, images, strict=True):
        for line in lines:
            box = [(x, y + offset) for x, y in line.box]
            merged.append(OcrLine(line.text, line.confidence, box))
        offset += image.shape[0]
    return merged


class DocumentReader:
    """Decode, OCR, classify and extract; synchronous, so run it in a thread."""

    def __init__(self, engine: OcrEngine) -> None:
        self.engine = engine

    def ocr_lines(self, data: bytes) -> tuple[list[OcrLine], int]:
        """All text lines of the upload (pages stacked) and the page count."""
        images = [prepare_page(page) for page in load_pages(data)]
        pages = [self.engine.recognize(image) for image in images]
        return _stack(pages, images), len(images)

    def read(self, data: bytes, doc_type: DocType | None = None) -> DocumentReading:
        """Read ``data`` as ``doc_type`` (None: work out which document it is).

        Raises ``images.DocumentError`` when the bytes are not a readable document.
        """
        started = time.perf_counter()
        lines, page_count = self.ocr_lines(data)
        detected = classify(lines)
        resolved = doc_type or detected
        if resolved is None:
            reading = DocumentReading(
                doc_type=None,
                needs_review=True,
                issues=["could not tell which of the four documents this is"],
            )
        else:
            reading = extract_fields(resolved, lines)
            if doc_type is not None and detected is not None and detected != doc_type:
                reading.needs_review = True
                reading.issues.insert(
                    0, f"uploaded as {doc_type.value} but looks like {_DOC_NAMES[detected]}"
                )
        if not lines:
            reading.issues.insert(0, "no text found; the image may be blank or too blurred")
        reading.pages = page_count
        reading.ms = round((time.perf_counter() - started) * 1000)
        return reading
