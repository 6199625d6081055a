"""More ways a document reaches us spoiled, beyond ``docdraw``'s crooked scan
and phone photo: a page photographed at an angle (perspective), a hand's or
phone's shadow, a fax-grade scan (100 dpi, enlarged again, JPEG quality
40-60), defocus and sensor noise.

Each takes and returns an RGB image and draws its randomness from ``rng``;
``spoil`` applies the ones a degradation names.
"""

from __future__ import annotations

import io
import math
import random

import cv2
import numpy as np
from PIL import Image, ImageFilter

from models.enums import DocType
from simulators.docdraw import on_table, photograph, rotate

DEGRADATIONS = ("clean", "rotate", "photo", "seal", "all")
# warp: photographed at an angle; shadow: a shadow and uneven light; lowres: a
# ~100 dpi scan enlarged and JPEG'd at 40-60; heavy: seal, warp, shadow and lowres.
EXTRA_DEGRADATIONS = ("warp", "shadow", "lowres", "heavy")
ALL_DEGRADATIONS = DEGRADATIONS + EXTRA_DEGRADATIONS


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return decoded.convert("RGB")


def perspective(image: Image.Image, rng: random.Random, strength: float = 0.06) -> Image.Image:
    """The page shot from a little to one side: each corner pulled inwards by up
    to ``strength`` of the page, on a desk-coloured surround."""
    width, height = image.size
    src = np.float32([(0, 0), (width, 0), (width, height), (0, height)])
    jitter = [(rng.uniform(0, strength) * width, rng.uniform(0, strength) * height)
              for _ in range(4)]  # fmt: skip
    signs = ((1, 1), (-1, 1), (-1, -1), (1, -1))
    dst = np.float32([(x + sx * dx, y + sy * dy)
                      for (x, y), (sx, sy), (dx, dy) in zip(src, signs, jitter, strict=True)])  # fmt: skip
    matrix = cv2.getPerspectiveTransform(src, dst)
    desk = tuple(rng.randint(70, 150) for _ in range(3))
    warped = cv2.warpPerspective(np.asarray(image), matrix, (width, height),
                                 flags=cv2.INTER_CUBIC, borderValue=desk)  # fmt: skip
    return Image.fromarray(warped)


def shadow(image: Image.Image, rng: random.Random) -> Image.Image:
    """A soft shadow across part of the page and light falling off to one side."""
    width, height = image.size
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, 2 * math.pi)
    # A straight-edged shadow (a hand, the phone) softened over ~8 % of the page.
    along = (xs - width * rng.uniform(0.3, 0.7)) * math.cos(angle) + (
        ys - height * rng.uniform(0.3, 0.7)
    ) * math.sin(angle)
    soft = max(width, height) * rng.uniform(0.04, 0.1)
    edge = 1 / (1 + np.exp(-along / soft))
    dark = 1 - rng.uniform(0.25, 0.45) * edge
    falloff = 1 - rng.uniform(0.1, 0.25) * (xs / width if rng.random() < 0.5 else ys / height)
    pixels = np.asarray(image, dtype=np.float32) * (dark * falloff)[..., None]
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def low_resolution(image: Image.Image, rng: random.Random, dpi: int = 150) -> Image.Image:
    """Scanned at ~100 dpi (``dpi`` is the page's own), enlarged back, JPEG'd hard."""
    width, height = image.size
    factor = rng.uniform(90, 110) / dpi
    small = image.resize((round(width * factor), round(height * factor)), Image.Resampling.BOX)
    small = _jpeg(small, rng.randrange(40, 61))
    return small.resize((width, height), Image.Resampling.BILINEAR)


def blur_and_noise(image: Image.Image, rng: random.Random) -> Image.Image:
    """Slight defocus and sensor noise."""
    gen = np.random.default_rng(rng.randrange(2**32))
    blurred = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 1.2)))
    pixels = np.asarray(blurred, dtype=np.float32)
    pixels += gen.normal(0, rng.uniform(4, 9), pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def spoil(
    image: Image.Image, doc_type: DocType, degradation: str, rng: random.Random
) -> Image.Image:
    """The page as ``degradation`` (one of ``ALL_DEGRADATIONS``) delivers it."""
    card = doc_type in (DocType.ID_CARD, DocType.DRIVING_LICENSE)
    if degradation in ("rotate", "all"):
        image = rotate(image, rng.choice((-1, 1)) * rng.uniform(1.0, 3.0))
    if degradation in ("photo", "all"):
        if card and rng.random() < 0.5:
            image = on_table(image, rng)
        image = photograph(image, rng)
    if degradation in ("warp", "heavy"):
        image = perspective(image, rng, rng.uniform(0.025, 0.07))
    if degradation in ("shadow", "heavy"):
        image = shadow(image, rng)
    if degradation in ("warp", "shadow"):
        image = blur_and_noise(image, rng)
    if degradation in ("lowres", "heavy"):
        # Cards are drawn at ~380 dpi; a cheap scan or a far-off photo keeps ~a quarter.
        image = low_resolution(image, rng, dpi=220 if card else 150)
    return image


def encode(image: Image.Image, degradation: str) -> bytes:
    """The upload's bytes: photos and scans as JPEG, clean and stamped pages as PNG."""
    buffer = io.BytesIO()
    if degradation in ("clean", "seal"):
        image.save(buffer, format="PNG")
    else:
        image.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()
