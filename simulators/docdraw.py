"""Drawing primitives for synthetic documents: a page that remembers where each
field's value was drawn, a red round seal, a watermark, and the ways a phone photo or a
crooked scan spoils an image."""

from __future__ import annotations

import io
import math
import random
from functools import cache

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

from simulators.docfonts import FontFace

SEAL_RED = (205, 32, 38)

Box = tuple[int, int, int, int]


@cache
def _font(face: FontFace, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(face.path), size, index=face.index)


class Page:
    """A blank sheet to draw text on, remembering where field values went.

    ``tracking`` letter-spaces every text by that share of its font size.
    """

    def __init__(
        self, size: tuple[int, int], face: FontFace, background=(255, 255, 255), tracking=0.0
    ) -> None:
        self.image = Image.new("RGB", size, background)
        self.draw = ImageDraw.Draw(self.image)
        self.face = face
        self.tracking = tracking
        self.value_boxes: dict[str, Box] = {}

    @property
    def size(self) -> tuple[int, int]:
        return self.image.size

    def font(self, size: int) -> ImageFont.FreeTypeFont:
        return _font(self.face, size)

    def width_of(self, text: str, size: int) -> int:
        if not self.tracking or len(text) < 2:
            return round(self.draw.textlength(text, font=self.font(size)))
        advances = sum(self.draw.textlength(ch, font=self.font(size)) for ch in text)
        return round(advances + self.tracking * size * (len(text) - 1))

    def text(
        self,
        xy: tuple[float, float],
        text: str,
        size: int,
        fill=(20, 20, 20),
        key: str | None = None,
        anchor: str = "la",
    ) -> Box:
        if self.tracking and len(text) > 1:
            box = self._spaced_text(xy, text, size, fill, anchor)
        else:
            box = self.draw.textbbox(xy, text, font=self.font(size), anchor=anchor)
            self.draw.text(xy, text, font=self.font(size), fill=fill, anchor=anchor)
        if key and key not in self.value_boxes:
            self.value_boxes[key] = tuple(round(v) for v in box)  # type: ignore[assignment]
        return box  # type: ignore[return-value]

    def _spaced_text(self, xy, text: str, size: int, fill, anchor: str) -> Box:
        font = self.font(size)
        width = self.width_of(text, size)
        x = xy[0] - {"l": 0, "m": width / 2, "r": width}[anchor[0]]
        boxes = []
        for ch in text:
            boxes.append(self.draw.textbbox((x, xy[1]), ch, font=font, anchor="l" + anchor[1]))
            self.draw.text((x, xy[1]), ch, font=font, fill=fill, anchor="l" + anchor[1])
            x += self.draw.textlength(ch, font=font) + self.tracking * size
        return (min(b[0] for b in boxes), min(b[1] for b in boxes),
                max(b[2] for b in boxes), max(b[3] for b in boxes))  # fmt: skip

    def rect(self, box: Box, outline=(60, 60, 60), width: int = 2, fill=None) -> None:
        self.draw.rectangle(box, outline=outline, width=width, fill=fill)

    def line(self, start: tuple[int, int], end: tuple[int, int], fill=(60, 60, 60), width=2):
        self.draw.line([start, end], fill=fill, width=width)


def stamp_seal(
    page: Page, centre: tuple[int, int], radius: int, ring_text: str, colour=SEAL_RED
) -> None:
    """Press a red round seal (ring, star, text along the rim) onto the page.

    Multiplying rather than pasting keeps black print under the seal visible,
    as real seal ink does.
    """
    layer = Image.new("RGB", page.size, (255, 255, 255))
    draw = ImageDraw.Draw(layer)
    cx, cy = centre
    draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), outline=colour,
                 width=max(4, radius // 18))  # fmt: skip
    star = [
        (
            cx + (radius * (0.28 if i % 2 == 0 else 0.11)) * math.sin(i * math.pi / 5),
            cy - (radius * (0.28 if i % 2 == 0 else 0.11)) * math.cos(i * math.pi / 5),
        )
        for i in range(10)
    ]
    draw.polygon(star, fill=colour)
    size = max(14, radius // 5)
    font = _font(page.face, size)
    chars = list(ring_text)[:18]
    span = math.radians(250)
    for i, ch in enumerate(chars):
        angle = -span / 2 + span * (i + 0.5) / len(chars)
        glyph = Image.new("L", (size * 2, size * 2), 0)
        ImageDraw.Draw(glyph).text((size, size), ch, font=font, fill=255, anchor="mm")
        glyph = glyph.rotate(-math.degrees(angle), resample=Image.Resampling.BICUBIC)
        gx = cx + (radius - size * 1.1) * math.sin(angle) - size
        gy = cy - (radius - size * 1.1) * math.cos(angle) - size
        layer.paste(Image.new("RGB", glyph.size, colour), (round(gx), round(gy)), glyph)
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


def watermark(page: Page, rng: random.Random, text: str, strength: float = 0.35) -> None:
    """``text`` tiled diagonally in faint grey over the whole page."""
    width, height = page.size
    size = max(28, width // 22)
    font = page.font(size)
    tile = Image.new("L", (width * 2, height * 2), 0)
    draw = ImageDraw.Draw(tile)
    step_x = round(draw.textlength(text, font=font)) + 3 * size
    for row, y in enumerate(range(0, height * 2, 5 * size)):
        for x in range(-(row % 2) * step_x // 2, width * 2, step_x):
            draw.text((x, y), text, font=font, fill=255)
    angle = rng.uniform(20, 35)
    tile = tile.rotate(angle, resample=Image.Resampling.BILINEAR)
    tile = tile.crop((width // 2, height // 2, width // 2 + width, height // 2 + height))
    grey = round(255 * strength * 0.5)
    ink = tile.point(lambda v: 255 - v * grey // 255).convert("RGB")
    page.image = ImageChops.multiply(page.image, ink)
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
