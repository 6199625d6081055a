"""Helpers for tests that drive the simulators: commands, polling, a webhook receiver."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
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


class CallbackReceiver:
    """A tiny webhook endpoint in a thread that records every POST it gets.

    The first ``fail_first`` calls are answered 500, so a test can prove the
    sender retries; later calls get 204.
    """

    def __init__(self, fail_first: int = 0, path: str = "/registry/callbacks") -> None:
        self.received: queue.Queue[tuple[dict[str, str], bytes]] = queue.Queue()
        self._fail_left = fail_first
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.received.put((dict(self.headers), body))
                self.send_response(500 if receiver._take_failure() else 204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass  # keep test output for the processes under test

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def _take_failure(self) -> bool:
        with self._lock:  # ThreadingHTTPServer handles each request in its own thread
            if self._fail_left <= 0:
                return False
            self._fail_left -= 1
            return True

    @classmethod
    @contextlib.contextmanager
    def running(cls, fail_first: int = 0) -> Iterator[CallbackReceiver]:
        receiver = cls(fail_first)
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
