"""Real workers inside the test process, on whatever Temporal server the test uses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import httpx
from temporalio.client import Client

from kernel.db import SessionFactory
from kernel.settings import Settings
from workers.worker import Queue, build_workers


@asynccontextmanager
async def running_workers(
    client: Client, settings: Settings, sessions: SessionFactory, queue: Queue = Queue.ALL
) -> AsyncIterator[httpx.AsyncClient]:
    """The workers `jieya worker --queue QUEUE` would run; yields their HTTP client."""
    async with AsyncExitStack() as exits:
        http = await exits.enter_async_context(httpx.AsyncClient(timeout=10))
        for worker in build_workers(client, settings, sessions, http, queue, exits):
            await exits.enter_async_context(worker)
        yield http
