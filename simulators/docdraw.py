"""Drawing primitives for synthetic documents: a page that remembers where each
field's value was drawn, a red round seal, and the ways a phone photo or a
crooked scan spoils an image."""

from __future__ import annotations

import io
import math
import random
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

# Debian's fonts-wqy-microhei and fonts-noto-cjk; the first one present is the default.
FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"),
)
SEAL_RED = (205, 32, 38)

Box = tuple[int, int, int, int]


def available_fonts() -> list[Path]:
    fonts = [path for path in FONT_CANDIDATES if path.exists()]
    if not fonts:
        raise RuntimeError("no CJK font found; install fonts-wqy-microhei or fonts-noto-cjk")
    return fonts


@cache
def _font(path: Path, size: int) -> ImageFont.FreeTypeFont:
    # index 2 of the Noto collections is Simplified Chinese; WQY has a single face.
    index = 2 if "Noto" in path.name else 0
    return ImageFont.truetype(str(path), size, index=index)


class Page:
    """A blank sheet to draw text on, remembering where field values went."""

    def __init__(self, size: tuple[int, int], font: Path, background=(255, 255, 255)) -> None:
        self.image = Image.new("RGB", size, background)
        self.draw = ImageDraw.Draw(self.image)
        self.font_path = font
        self.value_boxes: dict[str, Box] = {}

    @property
    def size(self) -> tuple[int, int]:
        return self.image.size

    def font(self, size: int) -> ImageFont.FreeTypeFont:
        return _font(self.font_path, size)

    def width_of(self, text: str, size: int) -> int:
        return round(self.draw.textlength(text, font=self.font(size)))

    def text(
        self,
        xy: tuple[float, float],
        text: str,
        size: int,
        fill=(20, 20, 20),
        key: str | None = None,
        anchor: str = "la",
    ) -> Box:
        box = self.draw.textbbox(xy, text, font=self.font(size), anchor=anchor)
        self.draw.text(xy, text, font=self.font(size), fill=fill, anchor=anchor)
        if key and key not in self.value_boxes:
            self.value_boxes[key] = tuple(round(v) for v in box)  # type: ignore[assignment]
        return box  # type: ignore[return-value]

    def rect(self, box: Box, outline=(60, 60, 60), width: int = 2, fill=None) -> None:
        self.draw.rectangle(box, outline=outline, width=width, fill=fill)

    def line(self, start: tuple[int, int], end: tuple[int, int], fill=(60, 60, 60), width=2):
        self.draw.line([start, end], fill=fill, width=width)


def stamp_seal(page: Page, centre: tuple[int, int], radius: int, ring_text: str) -> None:
    """Press a red round seal (ring, star, text along the rim) onto the page.

    Multiplying rather than pasting keeps black print under the seal visible,
    as real seal ink does.
    """
    layer = Image.new("RGB", page.size, (255, 255, 255))
    draw = ImageDraw.Draw(layer)
    cx, cy = centre
    draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), outline=SEAL_RED,
                 width=max(4, radius // 18))  # fmt: skip
    star = [
        (
            cx + (radius * (0.28 if i % 2 == 0 else 0.11)) * math.sin(i * math.pi / 5),
            cy - (radius * (0.28 if i % 2 == 0 else 0.11)) * math.cos(i * math.pi / 5),
        )
        for i in range(10)
    ]
    draw.polygon(star, fill=SEAL_RED)
    size = max(14, radius // 5)
    font = _font(page.font_path, size)
    chars = list(ring_text)[:18]
    span = math.radians(250)
    for i, ch in enumerate(chars):
        angle = -span / 2 + span * (i + 0.5) / len(chars)
        glyph = Image.new("L", (size * 2, size * 2), 0)
        ImageDraw.Draw(glyph).text((size, size), ch, font=font, fill=255, anchor="mm")
        glyph = glyph.rotate(-math.degrees(angle), resample=Image.Resampling.BICUBIC)
        gx = cx + (radius - size * 1.1) * math.sin(angle) - size
        gy = cy - (radius - size * 1.1) * math.cos(angle) - size
        layer.paste(Image.new("RGB", glyph.size, SEAL_RED), (round(gx), round(gy)), glyph)
    page.image = ImageChops.multiply(page.image, layer)
    page.draw = ImageDraw.Draw(page.image)


def guilloche(page: Page, rng: random.Random) -> None:
    """Faint interlaced waves, like the security print of state-issued forms."""
    width, height = page.size
    colour = tuple(rng.randint(150, 215) for _ in range(3))
    layer = Image.new("RGB", page.size, (255, 255, 255))
    draw = ImageDraw.Draw(layer)
    period, amplitude = rng.uniform(60, 140), rng.uniform(8, 25)
    for offset in range(-height, height, rng.randint(14, 24)):
        points = [
            (x, offset + x * 0.35 + amplitude * math.sin(x / period * 2 * math.pi))
            for x in range(0, width + 8, 8)
        ]
        draw.line(points, fill=colour, width=1)
    # Lighten the waves towards the paper so they stay background, not print.
    layer = Image.blend(layer, Image.new("RGB", page.size, (255, 255, 255)), 0.45)
    page.image = ImageChops.multiply(page.image, layer)
    page.draw = ImageDraw.Draw(page.image)


def rotate(image: Image.Image, degrees: float) -> Image.Image:
    corner = image.getpixel((2, 2))
    return image.rotate(degrees, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=corner)


def on_table(image: Image.Image, rng: random.Random) -> Image.Image:
    """The document lying on a desk, photographed from a little way off."""
    scale = rng.uniform(0.5, 0.75)
    card = image.resize((round(image.width * scale), round(image.height * scale)),
                        Image.Resampling.LANCZOS)  # fmt: skip
    desk = tuple(rng.randint(60, 140) for _ in range(3))
    frame = Image.new("RGB", image.size, desk)
    frame.paste(card, (rng.randint(0, image.width - card.width),
                       rng.randint(0, image.height - card.height)))  # fmt: skip
    return frame


def photograph(image: Image.Image, rng: random.Random) -> Image.Image:
    """Uneven light, a little defocus, sensor noise and JPEG artefacts."""
    width, height = image.size
    gen = np.random.default_rng(rng.randrange(2**32))
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    lx, ly = rng.uniform(0, width), rng.uniform(0, height)
    distance = np.hypot(xs - lx, ys - ly) / math.hypot(width, height)
    light = 1.08 - rng.uniform(0.35, 0.5) * distance  # bright spot fading to a dim corner
    tint = np.array([rng.uniform(0.9, 1.0), rng.uniform(0.95, 1.0), 1.0], dtype=np.float32)
    pixels = np.asarray(image, dtype=np.float32) * light[..., None] * tint
    pixels += gen.normal(0, rng.uniform(3, 7), pixels.shape)
    noisy = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    blurred = noisy.filter(ImageFilter.GaussianBlur(rng.uniform(0.6, 1.1)))
    buffer = io.BytesIO()
    blurred.save(buffer, format="JPEG", quality=rng.randrange(40, 65))
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return decoded.convert("RGB")
