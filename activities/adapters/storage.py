"""Content-addressed document storage. Local disk today; an S3-compatible
backend only has to implement `DocumentStore`."""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Protocol


class DocumentStore(Protocol):
    async def put(self, data: bytes) -> str: ...
    async def get(self, sha256: str) -> bytes: ...
    async def exists(self, sha256: str) -> bool: ...


class LocalDocumentStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a sha256 digest: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def _put_sync(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        target = self._path(digest)
        if target.exists():
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        # Durable before visible: the database row may only point at a file
        # that survives a power cut, so write, fsync, then rename into place.
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return digest

    async def put(self, data: bytes) -> str:
        return await asyncio.to_thread(self._put_sync, data)

    async def get(self, sha256: str) -> bytes:
        return await asyncio.to_thread(self._path(sha256).read_bytes)

    async def exists(self, sha256: str) -> bool:
        return self._path(sha256).exists()
