"""Clean a page before OCR.

Two things spoil borrower uploads most: the lender's red seal, which routinely
sits on the settlement date or the lender's name (its ring text is read as
garbage and glued onto the value beside it), and the uneven light of phone
photos.  Both are handled by working on one grey channel divided by an
estimate of the paper's local brightness.
"""

from __future__ import annotations

import cv2
import numpy as np

# How much redder than its green/blue a pixel must be to count as seal ink,
# and how many such pixels (share of the page) make a seal worth removing.
SEAL_REDNESS = 50
SEAL_MIN_SHARE = 0.002
# Ink darker than this share of the local paper brightness is kept; lighter
# marks (a seal's ghost in the red channel, shadows, paper texture) go white.
INK_LEVEL = 0.82
# Within a seal, even the red channel shows the ink's fringes as mid grey;
# print under a seal is far darker than that.
SEAL_INK_LEVEL = 0.6


def seal_mask(image: np.ndarray) -> np.ndarray | None:
    """Where the red ink is, widened to take in its blurred, JPEG-bled fringes;
    None when there is too little red to be a seal."""
    b, g, r = (image[:, :, i].astype(np.int16) for i in range(3))
    red = ((r - np.maximum(g, b) > SEAL_REDNESS) & (r > 110)).astype(np.uint8)
    if red.mean() <= SEAL_MIN_SHARE:
        return None
    return cv2.dilate(red, np.ones((5, 5), np.uint8)).astype(bool)


def _paper_brightness(grey: np.ndarray) -> np.ndarray:
    """The local paper level: a max filter wider than any glyph, then smoothed."""
    height, width = grey.shape
    size = (max(width // 4, 1), max(height // 4, 1))
    small = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (15, 15))
    background = cv2.dilate(small, kernel)
    background = cv2.GaussianBlur(background, (0, 0), 6)
    return cv2.resize(background, (width, height), interpolation=cv2.INTER_LINEAR)


def flatten(grey: np.ndarray, seal: np.ndarray | None = None) -> np.ndarray:
    """Divide out the lighting and push everything lighter than ink to white;
    under a seal, only print much darker than the paper survives."""
    background = _paper_brightness(grey).astype(np.float32)
    ratio = grey.astype(np.float32) / np.maximum(background, 1.0)
    if seal is not None:
        ratio[seal & (ratio > SEAL_INK_LEVEL)] = 1.0
    return np.clip(ratio / INK_LEVEL * 255.0, 0, 255).astype(np.uint8)


def prepare_page(image: np.ndarray) -> np.ndarray:
    """The page as the OCR engine should see it (BGR, same size)."""
    seal = seal_mask(image)
    if seal is not None:
        # In the red channel a red seal is nearly paper-white while black print,
        # even where the seal covers it, stays dark: the seal all but vanishes
        # and the strokes under it keep their shape.
        grey = image[:, :, 2]
    else:
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return cv2.cvtColor(flatten(grey, seal), cv2.COLOR_GRAY2BGR)
