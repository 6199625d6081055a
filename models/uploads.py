"""What an uploaded file is, by its bytes and not its name, and its pages as images.

Uploads come from borrowers' phones and lenders' scanners: JPEG/PNG/WebP photos
or PDF scans. Anything else is refused with a reason a person can act on.

Pillow and pypdfium2 only: the API checks every upload with this before it
stores a byte, and must not load the OCR stack (OpenCV, NumPy, ONNX Runtime) to
do so; the OCR reader turns these pages into its own arrays."""

from __future__ import annotations

import io

from PIL import Image, ImageOps, UnidentifiedImageError

# A phone photo is ~12 MP and a 200 dpi A4 scan ~4 MP; anything this large is
# either a decompression bomb or a poster, and OCR would only be slowed by it.
# Pillow's own bomb check (Image.MAX_IMAGE_PIXELS) stays in force on top.
MAX_PAGE_PIXELS = 40_000_000
# Every page is shrunk to this long side at load: it bounds memory per page and
# keeps enough resolution for the OCR engine's own (smaller) working size.
MAX_PAGE_SIDE = 2400
MAX_PDF_PAGES = 5
PDF_RENDER_DPI = 200

_IMAGE_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}


class DocumentError(ValueError):
    """The file cannot be turned into pages; ``str(err)`` says why, for a person."""


class UnsupportedDocument(DocumentError):
    """A file of a kind we do not read (HEIC, Word, ZIP, ...)."""


class CorruptDocument(DocumentError):
    """A file that claims a supported kind but cannot be decoded."""


def sniff_media_type(data: bytes) -> str | None:
    """The media type announced by the file's magic bytes, or None."""
    head = data[:16]
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    # PDF readers accept the header anywhere in the first KiB; so do we.
    if b"%PDF-" in data[:1024]:
        return "application/pdf"
    return None


def _describe_unknown(data: bytes) -> str:
    head = data[:16]
    if not data:
        return "the file is empty"
    if head[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftyphevc"):
        return "HEIC/HEIF photos are not supported; please upload JPEG or PNG"
    if head.startswith(b"PK\x03\x04"):
        return "ZIP/Office files are not supported; please upload a PDF or a photo"
    if head.startswith((b"GIF8", b"BM", b"II*\x00", b"MM\x00*")):
        return "GIF/BMP/TIFF images are not supported; please upload JPEG, PNG or PDF"
    return "the file is not a JPEG, PNG, WebP image or PDF"


def _fit(image: Image.Image) -> Image.Image:
    longest = max(image.size)
    if longest <= MAX_PAGE_SIDE:
        return image
    scale = MAX_PAGE_SIDE / longest
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


def _load_image(data: bytes, media_type: str) -> list[Image.Image]:
    try:
        with Image.open(io.BytesIO(data), formats=[_IMAGE_FORMATS[media_type]]) as image:
            if image.width * image.height > MAX_PAGE_PIXELS:
                raise UnsupportedDocument(
                    f"the image is {image.width}x{image.height} pixels, larger than we accept"
                )
            image.load()
            upright = ImageOps.exif_transpose(image)
            return [_fit(upright)]
    except Image.DecompressionBombError as exc:
        raise UnsupportedDocument("the image is too large to decode safely") from exc
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise CorruptDocument(f"the {media_type} image is damaged or truncated: {exc}") from exc


def _load_pdf(data: bytes, max_pages: int) -> list[Image.Image]:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise UnsupportedDocument("the PDF is password-protected") from exc
        raise CorruptDocument(f"the PDF cannot be opened: {exc}") from exc
    try:
        if len(pdf) == 0:
            raise CorruptDocument("the PDF has no pages")
        pages = []
        for index in range(min(len(pdf), max_pages)):
            page = pdf[index]
            width, height = page.get_size()  # PDF points, 1/72 inch
            scale = min(PDF_RENDER_DPI / 72, MAX_PAGE_SIDE / max(width, height, 1))
            pages.append(page.render(scale=scale).to_pil())
        return pages
    except pdfium.PdfiumError as exc:
        raise CorruptDocument(f"a PDF page cannot be rendered: {exc}") from exc
    finally:
        pdf.close()


def load_images(data: bytes, *, max_pages: int = MAX_PDF_PAGES) -> list[Image.Image]:
    """Decode an upload into upright page images, each within MAX_PAGE_SIDE (at most
    ``max_pages`` for PDFs); a DocumentError that says why when it cannot be read."""
    media_type = sniff_media_type(data)
    if media_type is None:
        raise UnsupportedDocument(_describe_unknown(data))
    if media_type == "application/pdf":
        return _load_pdf(data, max_pages)
    return _load_image(data, media_type)
