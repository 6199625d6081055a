"""Helpers for tests that drive the simulators: commands, polling, knobs, a webhook receiver."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

HTTP_READY = r"LISTENING (http://\S+)"
MAIL_READY = r"LISTENING smtp=([\d.]+):(\d+) http=(http://\S+)"
VIN_ALPHABET = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"


def random_vin() -> str:
    """A well-formed, unique VIN (17 characters, no I/O/Q); check digit not computed."""
    bits = uuid.uuid4().int
    return "".join(VIN_ALPHABET[(bits >> (5 * i)) % len(VIN_ALPHABET)] for i in range(17))


def sim_cmd(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", f"simulators.{module}", *args]


async def eventually(check: Callable[[], Awaitable[Any]], within_s: float = 10.0) -> Any:
    """Poll ``check`` until it returns something truthy, or fail after ``within_s``."""
    deadline = time.monotonic() + within_s
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within_s}s (last: {result!r})")
        await asyncio.sleep(0.05)


async def sim_config(http: httpx.AsyncClient, base: str, **config: Any) -> dict[str, Any]:
    response = await http.post(f"{base}/_sim/config", json=config)
    response.raise_for_status()
    return response.json()


async def sim_get(http: httpx.AsyncClient, base: str, path: str) -> Any:
    response = await http.get(f"{base}{path}")
    response.raise_for_status()
    return response.json()


@contextlib.asynccontextmanager
async def sim_faults(http: httpx.AsyncClient, base: str, **knobs: Any) -> AsyncIterator[dict]:
    """Run a block with these knobs on a shared simulator, from and back to its defaults.

    Resetting on both sides means a test sees counters from zero and leaves
    no fault behind for the next test, even when it fails.
    """
    view = await sim_config(http, base, reset=True, **knobs)
    try:
        yield view
    finally:
        await sim_config(http, base, reset=True)


class CallbackReceiver:
    """A tiny webhook endpoint in a thread that records every POST it gets.

    The first calls are answered with ``answers`` in turn (``fail_first`` is
    short for that many 500s), so a test can prove the sender retries or
    takes a 409 as delivered; later calls get 204.
    """

    def __init__(
        self,
        fail_first: int = 0,
        path: str = "/registry/callbacks",
        answers: Sequence[int] = (),
    ) -> None:
        self.received: queue.Queue[tuple[dict[str, str], bytes]] = queue.Queue()
        self._answers = [500] * fail_first + list(answers)
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.received.put((dict(self.headers), body))
                self.send_response(receiver._next_answer())
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass  # keep test output for the processes under test

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def _next_answer(self) -> int:
        with self._lock:  # ThreadingHTTPServer handles each request in its own thread
            return self._answers.pop(0) if self._answers else 204

    @classmethod
    @contextlib.contextmanager
    def running(
        cls, fail_first: int = 0, answers: Sequence[int] = ()
    ) -> Iterator[CallbackReceiver]:
        receiver = cls(fail_first, answers=answers)
        thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield receiver
        finally:
            receiver.server.shutdown()
            receiver.server.server_close()
            thread.join(timeout=5)

    async def next(self, within_s: float = 10.0) -> tuple[dict[str, str], bytes]:
        """The next request as (headers, body); raises queue.Empty after ``within_s``."""
        # queue.get's own timeout, because a thread blocked in get() cannot be cancelled.
        return await asyncio.to_thread(self.received.get, timeout=within_s)

    async def quiet_for(self, seconds: float) -> list[tuple[dict[str, str], bytes]]:
        """Whatever arrives in the next ``seconds``; for proving that nothing (more) comes."""
        arrived = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                arrived.append(await self.next(within_s=left))
            except queue.Empty:
                break
        return arrived
