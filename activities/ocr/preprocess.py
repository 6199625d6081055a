"""Clean a page before OCR: the lender's red seal routinely sits on the
settlement date and the lender name, and the detector reads its ring text as
garbage lines that split real ones."""

from __future__ import annotations

import numpy as np

# How much redder than its green/blue a pixel must be to count as seal ink.
# Black print under the seal stays dark in every channel, so it survives.
SEAL_REDNESS = 40


def suppress_red(image: np.ndarray) -> np.ndarray:
    """Wash red ink (seals, red stamps) out to the paper colour, keep dark print."""
    b, g, r = (image[:, :, i].astype(np.int16) for i in range(3))
    redness = r - np.maximum(g, b)
    mask = redness > SEAL_REDNESS
    if not mask.any():
        return image
    out = image.copy()
    # Replacing a red pixel by its red channel turns seal ink into light grey,
    # while a dark pixel (print under the seal) keeps its low value.
    out[mask] = np.repeat(image[:, :, 2][mask][:, None], 3, axis=1)
    return out


def prepare_page(image: np.ndarray) -> np.ndarray:
    """The page as the OCR engine should see it."""
    return suppress_red(image)
