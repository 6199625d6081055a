"""OCR review of uploaded documents. Runs on its own task queue (`jieya-ocr`)
so OCR can be scaled, or moved to GPU machines, on its own."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.dialects.postgresql import insert
from temporalio import activity

from activities.adapters.storage import DocumentStore
from activities.bookkeeping import write_transitions
from activities.errors import DOCUMENT_NOT_FOUND, UNREADABLE_DOCUMENT, business_error
from activities.ocr.cache import OcrCache
from activities.ocr.extract import DocumentReading
from activities.ocr.images import CorruptDocument, UnsupportedDocument
from activities.ocr.reader import DocumentReader
from kernel.db import SessionFactory
from models.enums import DocType
from models.payloads import DocumentReview, ReviewDocumentInput
from models.tables import Document, OcrResult, utcnow

HEARTBEAT_EVERY_S = 5.0


class OcrActivities:
    def __init__(
        self,
        sessions: SessionFactory,
        store: DocumentStore,
        reader: DocumentReader,
        concurrency: int = 2,
    ) -> None:
        self._sessions = sessions
        self._store = store
        self._reader = reader
        self._cache = OcrCache(sessions, reader.version)
        # OCR is CPU-bound native code: a bounded pool keeps the event loop
        # (and Temporal heartbeats) responsive and memory predictable.
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="ocr")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    @activity.defn
    async def review_document(self, request: ReviewDocumentInput) -> DocumentReview:
        """Read one document's fields with OCR and store the result."""
        async with self._sessions() as session:
            document = await session.get(Document, request.document_id)
        if document is None or document.case_id != request.case_id:
            raise business_error(
                DOCUMENT_NOT_FOUND, f"document {request.document_id} is not in this case"
            )
        doc_type = DocType(document.doc_type)
        reading = await self._cache.get(document.sha256, doc_type)
        from_cache = reading is not None
        if reading is None:
            reading = await self._read(document.sha256, doc_type)
            await self._cache.put(document.sha256, doc_type, reading)
        async with self._sessions() as session, session.begin():
            await write_transitions(session, request.records)
            await session.exec(
                insert(OcrResult)
                .values(
                    document_id=document.document_id,
                    case_id=document.case_id,
                    sha256=document.sha256,
                    doc_type=document.doc_type,
                    engine=self._cache.engine_name,
                    fields={k: f.model_dump(mode="json") for k, f in reading.fields.items()},
                    needs_review=reading.needs_review,
                    issues=reading.issues,
                    mismatches=[],
                    ms=reading.ms,
                    from_cache=from_cache,
                    created_at=utcnow(),
                )
                .on_conflict_do_nothing(constraint="uq_ocr_results_document")
            )
        return DocumentReview(
            document_id=document.document_id,
            doc_type=doc_type,
            needs_review=reading.needs_review,
            issues=reading.issues,
        )

    async def _read(self, sha256: str, doc_type: DocType) -> DocumentReading:
        data = await self._store.get(sha256)
        loop = asyncio.get_running_loop()
        reading = loop.run_in_executor(self._pool, self._reader.read, data, doc_type)
        # Heartbeats while the engine works: a worker killed mid-read has its
        # documents read again elsewhere within the heartbeat timeout.
        while not reading.done():
            await asyncio.wait({reading}, timeout=HEARTBEAT_EVERY_S)
            if activity.in_activity():
                activity.heartbeat()
        try:
            return reading.result()
        except (UnsupportedDocument, CorruptDocument) as error:
            raise business_error(UNREADABLE_DOCUMENT, str(error)) from error
