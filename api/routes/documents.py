"""Documents: uploads, and reads of the stored files.

An upload is checked first, then the bytes stored, the row committed, the signal:
nothing reaches the document store until the upload can no longer be refused, so
a refused upload leaves no file behind that no row points at.

A read of a file (the console's thumbnails too) is audited, committed before the
bytes leave, and only for the roles that work or audit cases: these are ID cards."""

from __future__ import annotations

import asyncio
import hashlib
import unicodedata
import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, File, Form, Path, Response, UploadFile
from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client
from temporalio.service import RPCError

from activities.adapters.storage import LocalDocumentStore
from api.auth import DocumentReader, WriterOperator
from api.bodies import read_capped
from api.deps import SessionDep, SettingsDep, StoreDep, TemporalClientDep
from api.errors import ApiError, log, temporal_error
from api.records import lock_case, new_id
from api.schemas import ERROR_RESPONSES, DocumentStored
from api.scope import CaseDep
from kernel.case_client import case_handle
from models.audit import append_event
from models.case_contract import CaseSignal
from models.enums import CaseStatus, DocType
from models.payloads import DocumentUploaded
from models.tables import Case, Document, Operator
from models.uploads import (
    CorruptDocument,
    DocumentError,
    UnsupportedDocument,
    load_images,
    sniff_media_type,
)

router = APIRouter(prefix="/cases", tags=["documents"])


@dataclass(frozen=True)
class Upload:
    data: bytes
    sha256: str
    media_type: str
    pages: int
    filename: str


# Bidi embeddings, overrides and isolates: they make `fdp.exe` display as `exe.pdf`.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
MAX_FILENAME = 255


def check_filename(filename: str | None) -> str:
    """The name to record; a 422 for one with control characters.

    Refused rather than cleaned: a name that needs cleaning was made by a bug or
    an attacker, and the client should hear about it rather than find a different
    name stored. NUL would also fail the insert (PostgreSQL cannot store it)."""
    name = filename or "upload"
    bad = next((c for c in name if _is_control(c)), None)
    if bad is not None:
        raise ApiError(
            422,
            "invalid_filename",
            f"the filename contains a control character (U+{ord(bad):04X}); rename the file",
        )
    return name[:MAX_FILENAME]


def _is_control(char: str) -> bool:
    # Cc: C0, DEL and C1; Zl/Zp: line and paragraph separators, which split log lines.
    return unicodedata.category(char) in ("Cc", "Zl", "Zp") or char in _BIDI_CONTROLS


async def inspect_upload(data: bytes, filename: str | None) -> Upload:
    """A file we can read with a name we can record, else a 415/422 that says why."""
    name = check_filename(filename)
    if not data:
        raise ApiError(422, "empty_file", "the file is empty")
    media_type = sniff_media_type(data)
    try:
        # load_images also explains unknown bytes (HEIC, ZIP, ...) better than we could.
        pages = await asyncio.to_thread(load_images, data)
    except UnsupportedDocument as error:
        raise ApiError(415, "unsupported_document", str(error)) from None
    except (CorruptDocument, DocumentError) as error:
        raise ApiError(422, "corrupt_document", str(error)) from None
    except Exception as error:  # a decoder choking on hostile bytes is still bad input
        log.warning("document failed to decode", error=f"{type(error).__name__}: {error}")
        raise ApiError(422, "corrupt_document", "the file could not be decoded") from None
    if media_type is None:
        raise ApiError(415, "unsupported_document", "the file is not a JPEG, PNG, WebP or PDF")
    digest = hashlib.sha256(data).hexdigest()
    return Upload(data, digest, media_type, len(pages), name)


@router.post(
    "/{case_id}/documents",
    status_code=201,
    response_model=DocumentStored,
    responses={200: {"model": DocumentStored, "description": "the same file was already there"}},
)
async def upload_document(
    operator: WriterOperator,
    case: CaseDep,
    session: SessionDep,
    client: TemporalClientDep,
    store: StoreDep,
    settings: SettingsDep,
    response: Response,
    file: Annotated[UploadFile, File(description="JPEG, PNG, WebP or PDF")],
    doc_type: Annotated[DocType, Form()],
) -> DocumentStored:
    """Attach a document to an open case and tell its workflow."""
    _refuse_if_closed(case)
    upload = await inspect_upload(await read_capped(file, settings.max_upload_bytes), file.filename)
    document, duplicate = await _record(session, store, case, operator, doc_type, upload)
    # Re-signalling a duplicate is harmless and repairs a signal lost after an earlier commit.
    await _signal(
        client, case.case_id, DocumentUploaded(document_id=document.document_id, doc_type=doc_type)
    )
    if duplicate:
        response.status_code = 200
    return DocumentStored(
        document_id=document.document_id,
        doc_type=doc_type,
        sha256=upload.sha256,
        duplicate=duplicate,
    )


async def _record(
    session: AsyncSession,
    store: LocalDocumentStore,
    case: Case,
    operator: Operator,
    doc_type: DocType,
    upload: Upload,
) -> tuple[Document, bool]:
    """The case's document with these bytes and type: (existing, True) or (new, False)."""
    await lock_case(session, case.case_id)  # two identical uploads at once make one row
    # Closed since the first look? A closing writer takes this lock for its audit record.
    await session.refresh(case)
    _refuse_if_closed(case)
    existing = (
        await session.exec(
            select(Document).where(
                Document.case_id == case.case_id,
                Document.doc_type == doc_type.value,
                Document.sha256 == upload.sha256,
            )
        )
    ).scalar_one_or_none()
    if existing is not None:
        await session.commit()  # release the lock before talking to Temporal
        return existing, True
    document = Document(
        document_id=new_id("DOC-", 12),
        case_id=case.case_id,
        doc_type=doc_type.value,
        sha256=upload.sha256,
        filename=upload.filename,
        media_type=upload.media_type,
        size_bytes=len(upload.data),
        pages=upload.pages,
        uploaded_by=operator.name,
    )
    session.add(document)
    await append_event(
        session,
        stream=case.case_id,
        event="document.uploaded",
        actor=operator.name,
        details={
            "document_id": document.document_id,
            "doc_type": doc_type.value,
            "sha256": upload.sha256,
            "size_bytes": len(upload.data),
            "media_type": upload.media_type,
        },
        event_key=f"{case.case_id}:document:{document.document_id}",
    )
    # The row and its audit record are checked by the database before any byte is
    # stored; the row is invisible until the commit, so it still never points at a
    # file that is not durable on disk.
    await session.flush()
    await store.put(upload.data)
    await session.commit()
    return document, False


def _refuse_if_closed(case: Case) -> None:
    if CaseStatus(case.status).is_closed:
        raise ApiError(409, "case_closed", f"case is {case.status}; it takes no more documents")


async def _signal(client: Client, case_id: str, upload: DocumentUploaded) -> None:
    try:
        await case_handle(client, case_id).signal(CaseSignal.DOCUMENT_UPLOADED, upload)
    except RPCError as error:
        raise temporal_error(error) from None


DOCUMENT_ID = r"^[A-Za-z0-9_-]{1,32}$"
_MEDIA_TYPES = ("image/jpeg", "image/png", "image/webp", "application/pdf")


@router.get(
    "/{case_id}/documents/{document_id}/content",
    response_class=Response,
    responses={
        **ERROR_RESPONSES,
        200: {
            "description": "the file as uploaded, with its stored media type",
            "content": {media_type: {} for media_type in _MEDIA_TYPES},
        },
    },
)
async def document_content(
    operator: DocumentReader,
    case: CaseDep,
    session: SessionDep,
    store: StoreDep,
    document_id: Annotated[str, Path(pattern=DOCUMENT_ID)],
) -> Response:
    """The bytes of one of the case's documents; every read is audited (`document.viewed`)."""
    document = await session.get(Document, document_id)
    if document is None or document.case_id != case.case_id:
        raise ApiError(
            404, "document_not_found", f"case {case.case_id} has no document {document_id}"
        )
    try:
        data = await store.get(document.sha256)
    except FileNotFoundError:
        raise ApiError(
            404,
            "document_content_missing",
            f"the file of document {document_id} is not in the document store",
        ) from None
    # Recorded and committed before the bytes leave: a read nobody can see never happened.
    await append_event(
        session,
        stream=case.case_id,
        event="document.viewed",
        actor=operator.name,
        details={
            "document_id": document.document_id,
            "doc_type": document.doc_type,
            "role": operator.role,
        },
        event_key=f"{case.case_id}:viewed:{uuid.uuid4().hex}",
    )
    await session.commit()
    return Response(
        data,
        media_type=document.media_type,
        headers={
            # Borrowers' ID cards: never in a shared cache, never sniffed into something else.
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Disposition": f'inline; filename="{document.document_id}"',
        },
    )
