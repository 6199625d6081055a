"""Request bodies read under a cap: refused as soon as they pass it, never buffered whole."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request, UploadFile

from api.errors import ApiError


def too_large(limit: int) -> ApiError:
    return ApiError(413, "file_too_large", f"the upload is larger than {limit} bytes")


def body_too_large(limit: int) -> ApiError:
    return ApiError(413, "body_too_large", f"the request body is larger than {limit} bytes")


async def read_capped(file: UploadFile, limit: int) -> bytes:
    """Read an upload, refusing it as soon as it passes `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await file.read(1 << 16):
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def read_body_capped(
    request: Request, limit: int, refuse: Callable[[int], ApiError] = body_too_large
) -> bytes:
    """Read a raw request body, refusing it as soon as it passes `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise refuse(limit)
        chunks.append(chunk)
    return b"".join(chunks)
