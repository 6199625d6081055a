"""The OCR cache on real PostgreSQL: the same bytes are read once per engine
and reader version, and a newer reader never serves an older one's verdict."""

from __future__ import annotations

import hashlib
import uuid

from activities.ocr.cache import OcrCache
from activities.ocr.extract import DocumentReading, FieldReading
from activities.ocr.reader import READER_VERSION, DocumentReader
from models.enums import DocType


class _NamedEngine:
    name = "rapidocr"

    def recognize(self, image):  # never called: only the version is used here
        raise AssertionError


def _reading() -> DocumentReading:
    return DocumentReading(
        doc_type=DocType.ID_CARD,
        fields={"name": FieldReading(value="张三", confidence=0.97, valid=True, weakest_char=0.9)},
        needs_review=False,
        ms=640,
    )


def test_the_reader_version_names_engine_and_rules():
    assert DocumentReader(_NamedEngine()).version == f"rapidocr/r{READER_VERSION}"


async def test_a_reading_is_served_to_its_own_version_only(sessions):
    sha = hashlib.sha256(uuid.uuid4().bytes).hexdigest()
    current = OcrCache(sessions, DocumentReader(_NamedEngine()).version)
    older = OcrCache(sessions, "rapidocr/r1")

    assert await current.get(sha, DocType.ID_CARD) is None
    await current.put(sha, DocType.ID_CARD, _reading())
    cached = await current.get(sha, DocType.ID_CARD)
    assert cached is not None and cached.fields["name"].value == "张三"
    assert cached.fields["name"].weakest_char == 0.9
    assert await older.get(sha, DocType.ID_CARD) is None
    assert await current.get(sha, DocType.SETTLEMENT_CERTIFICATE) is None
