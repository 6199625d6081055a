"""Turning uploads into page images: content sniffing, EXIF orientation, PDFs,
and refusals a person can act on."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from activities.ocr.images import (
    MAX_PAGE_SIDE,
    MAX_PDF_PAGES,
    CorruptDocument,
    UnsupportedDocument,
    load_pages,
    sniff_media_type,
)
from activities.ocr.preprocess import prepare_page


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


@pytest.fixture
def landscape() -> Image.Image:
    image = Image.new("RGB", (300, 200), "white")
    image.paste((255, 0, 0), (0, 0, 30, 30))  # red mark in the top-left corner
    return image


@pytest.mark.parametrize(
    ("fmt", "media_type"),
    [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp"),
     ("PDF", "application/pdf")],
)  # fmt: skip
def test_sniffing_by_content(landscape, fmt, media_type):
    assert sniff_media_type(encode(landscape, fmt)) == media_type


def test_each_format_loads_as_bgr(landscape):
    for fmt in ("JPEG", "PNG", "WEBP"):
        (page,) = load_pages(encode(landscape, fmt))
        assert page.shape == (200, 300, 3) and page.dtype == np.uint8
        blue, green, red = page[5, 5]
        assert red > 200 and green < 60 and blue < 60, fmt


def test_exif_orientation_is_applied(landscape):
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    (page,) = load_pages(encode(landscape, "JPEG", exif=exif))
    assert page.shape[:2] == (300, 200)
    assert page[5, -6, 2] > 200  # the red corner moved to the top-right


def test_transparent_png_becomes_white_paper():
    image = Image.new("RGBA", (50, 50), (0, 0, 0, 0))
    (page,) = load_pages(encode(image, "PNG"))
    assert page.min() == 255


def test_large_images_are_shrunk():
    (page,) = load_pages(encode(Image.new("RGB", (4000, 3000), "white"), "PNG"))
    assert max(page.shape[:2]) == MAX_PAGE_SIDE


def test_pdf_pages_are_rendered_and_capped(landscape):
    pages = [landscape] * (MAX_PDF_PAGES + 2)
    data = encode(pages[0], "PDF", save_all=True, append_images=pages[1:])
    rendered = load_pages(data)
    assert len(rendered) == MAX_PDF_PAGES
    assert rendered[0].shape[2] == 3


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "empty"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00", "HEIC"),
        (b"PK\x03\x04rest-of-a-docx", "ZIP"),
        (b"GIF89a....", "GIF"),
        (b"hello, this is text", "not a JPEG"),
    ],
)
def test_unsupported_files_say_why(data, words):
    with pytest.raises(UnsupportedDocument, match=words):
        load_pages(data)


def test_truncated_image_is_corrupt(landscape):
    data = encode(landscape, "PNG")
    with pytest.raises(CorruptDocument, match="damaged"):
        load_pages(data[: len(data) // 2])


def test_broken_pdf_is_corrupt():
    with pytest.raises(CorruptDocument, match="PDF"):
        load_pages(b"%PDF-1.7\n this is not really a pdf")


def test_seal_ink_is_removed_but_print_under_it_stays():
    page = np.full((200, 200, 3), 245, np.uint8)
    page[40:160, 40:160] = (40, 40, 210)  # a red (BGR) seal area
    page[90:110, 20:180] = (15, 10, 60)  # black print under the seal, tinted red
    out = prepare_page(page)
    assert out[50, 50].min() > 230  # seal gone to paper white
    assert out[100, 100].max() < 100  # the print under it is still dark
    assert out[100, 25].max() < 100  # and outside it too
