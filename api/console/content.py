"""A document's stored bytes, so the console can show thumbnails (an `<img>` cannot send a token)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from api.auth import CurrentOperator
from api.deps import CaseDep, SessionDep, StoreDep
from api.errors import ApiError
from api.views import ERROR_RESPONSES
from models.tables import Document

router = APIRouter(prefix="/cases", tags=["documents"])

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
    _: CurrentOperator,
    case: CaseDep,
    session: SessionDep,
    store: StoreDep,
    document_id: Annotated[str, Path(pattern=DOCUMENT_ID)],
) -> Response:
    """The bytes of one of the case's documents; any signed-in role may read them."""
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
