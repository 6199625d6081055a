"""OCR results cached by file content (sha256), per document type and engine."""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert

from activities.ocr.extract import DocumentReading
from kernel.db import SessionFactory
from models.enums import DocType
from models.tables import OcrCacheEntry, utcnow


class OcrCache:
    def __init__(self, sessions: SessionFactory, engine_name: str) -> None:
        self._sessions = sessions
        self.engine_name = engine_name

    async def get(self, sha256: str, doc_type: DocType) -> DocumentReading | None:
        async with self._sessions() as session:
            entry = await session.get(OcrCacheEntry, (sha256, doc_type.value, self.engine_name))
        if entry is None:
            return None
        return DocumentReading(
            doc_type=doc_type,
            fields=entry.fields,
            needs_review=entry.needs_review,
            issues=entry.issues,
            ms=entry.ms,
        )

    async def put(self, sha256: str, doc_type: DocType, reading: DocumentReading) -> None:
        async with self._sessions() as session, session.begin():
            await session.exec(
                insert(OcrCacheEntry)
                .values(
                    sha256=sha256,
                    doc_type=doc_type.value,
                    engine=self.engine_name,
                    fields={k: f.model_dump(mode="json") for k, f in reading.fields.items()},
                    needs_review=reading.needs_review,
                    issues=reading.issues,
                    ms=reading.ms,
                    created_at=utcnow(),
                )
                .on_conflict_do_nothing()
            )
