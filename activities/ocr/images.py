"""Turn an uploaded file into page images, trusting its bytes and not its name.

The checks and the decoding are `models.uploads` (which the API shares without
loading OpenCV); here the pages become the BGR arrays the OCR engines read.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from models.uploads import (
    MAX_PAGE_PIXELS,
    MAX_PAGE_SIDE,
    MAX_PDF_PAGES,
    PDF_RENDER_DPI,
    CorruptDocument,
    DocumentError,
    UnsupportedDocument,
    load_images,
    sniff_media_type,
)

__all__ = [
    "MAX_PAGE_PIXELS",
    "MAX_PAGE_SIDE",
    "MAX_PDF_PAGES",
    "PDF_RENDER_DPI",
    "CorruptDocument",
    "DocumentError",
    "UnsupportedDocument",
    "load_pages",
    "sniff_media_type",
]


def _to_bgr(image: Image.Image) -> np.ndarray:
    if image.mode in ("RGBA", "LA", "P"):
        # Transparent areas are paper, not black.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return cv2.cvtColor(np.asarray(image.convert("RGB")), cv2.COLOR_RGB2BGR)


def load_pages(data: bytes, *, max_pages: int = MAX_PDF_PAGES) -> list[np.ndarray]:
    """Decode an upload into upright BGR page images (at most ``max_pages`` for PDFs)."""
    return [_to_bgr(image) for image in load_images(data, max_pages=max_pages)]
