"""What every simulator shares: error shape, state files and the runner (faults are in faults.py).

Simulators are separate processes so the product talks to them exactly as it
would to the real systems: over sockets, with real timeouts and real failures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import tempfile
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

API_PREFIX = "/api/"


def utc_iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat()


class SimError(Exception):
    """An API error answered as ``{"error": {"code", "message"}}``, like the real systems do."""

    def __init__(self, status_code: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message


def error_response(status_code: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status_code)


def describe_errors(errors: Sequence[Any]) -> str:
    """One readable line from pydantic's error list, e.g. ``error_rate: Input should be ...``."""
    parts = []
    for error in errors:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        # pydantic prefixes messages raised by validators; the field name says enough.
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{where or 'body'}: {message}")
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    """Every error, including FastAPI's own 404/405/422, leaves in the shared JSON shape."""

    @app.exception_handler(SimError)
    async def _sim_error(_: Request, exc: SimError) -> JSONResponse:
        return error_response(exc.status_code, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, "validation_error", describe_errors(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, "http_error", str(exc.detail))


def require_idempotency_key(value: str | None) -> str:
    if value is None or not value.strip():
        raise SimError(400, "missing_idempotency_key", "the Idempotency-Key header is required")
    if len(value) > 200:
        raise SimError(400, "invalid_idempotency_key", "Idempotency-Key is longer than 200")
    return value.strip()


def ensure_same_body(key: str, stored: dict[str, Any], received: dict[str, Any]) -> None:
    """A reused key must carry the same request; anything else is a client bug worth a 409."""
    if stored != received:
        raise SimError(
            409,
            "idempotency_key_reused",
            f"Idempotency-Key {key!r} was already used with a different request",
        )


def add_health_and_log(app: FastAPI, read_log: Callable[[], list[dict[str, Any]]]) -> None:
    @app.get("/healthz")
    async def healthz() -> dict[str, bool]:
        """Liveness."""
        return {"ok": True}

    @app.get("/_sim/log")
    async def sim_log() -> list[dict[str, Any]]:
        """Everything this simulator received, oldest first."""
        return read_log()


class JsonStateFile:
    """Optional JSON persistence so a restarted dev stack keeps what the product already sent."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def load(self) -> Any | None:
        if self.path is None or not self.path.exists():
            return None
        return json.loads(self.path.read_text(encoding="utf-8"))

    def save(self, data: Any) -> None:
        # Written synchronously on purpose: state files are small, and saving in the
        # request keeps the file ordered exactly like the requests that changed it.
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=self.path.name, suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, ensure_ascii=False, indent=1)
                handle.flush()
                os.fsync(handle.fileno())
            # os.replace is atomic, so a crash mid-write leaves the previous state intact.
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind before serving so port 0 resolves to a real port we can announce."""
    # IPPROTO_TCP spelled out: asyncio only turns Nagle off (TCP_NODELAY) on sockets whose
    # proto says TCP, and without that every keep-alive answer waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        # One readable line for whoever supervises us, instead of a traceback.
        raise SystemExit(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.listen(128)
    sock.setblocking(False)
    return sock


def socket_address(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"{host}:{port}"


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn re-raises captured signals after shutdown, which would kill the
        # process before sibling servers (the SMTP sink) close; run_forever owns signals.
        yield


class HttpServer:
    """uvicorn on a pre-bound socket, started and stopped inside an existing event loop."""

    def __init__(self, app: FastAPI, sock: socket.socket) -> None:
        self.sock = sock
        # A bounded graceful shutdown: a request hung on purpose (timeout_rate) must not
        # keep a stopping simulator alive for hang_s.
        config = uvicorn.Config(
            app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=1
        )
        self._server = _Server(config)
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://{socket_address(self.sock)}"

    async def start(self, timeout_s: float = 15.0) -> None:
        self._task = asyncio.create_task(self._server.serve(sockets=[self.sock]))
        async with asyncio.timeout(timeout_s):
            while not self._server.started:
                if self._task.done():
                    await self._task  # surfaces the startup error
                    raise RuntimeError("HTTP server exited during startup")
                await asyncio.sleep(0.01)

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await self._task

    async def wait(self) -> None:
        if self._task is not None:
            # Shielded: cancelling whoever waits must not cancel the server itself.
            await asyncio.shield(self._task)


async def run_forever(
    start: Callable[[], Awaitable[str]],
    stop: Callable[[], Awaitable[None]],
    died: Callable[[], Awaitable[None]],
) -> None:
    """Start, announce ``LISTENING …`` for supervisors, then stop cleanly on SIGINT/SIGTERM.

    ``died`` returns if a server stops on its own, so a crashed simulator exits
    instead of lingering as a process that answers nothing.
    """
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    announcement = await start()
    print(f"LISTENING {announcement}", flush=True)
    waiters = [asyncio.create_task(stopping.wait()), asyncio.create_task(died())]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await stop()


def serve_app(app: FastAPI, host: str, port: int) -> None:
    """Run one FastAPI simulator until signalled; the whole CLI of the HTTP simulators."""
    server = HttpServer(app, bind_socket(host, port))

    async def start() -> str:
        await server.start()
        return server.url

    asyncio.run(run_forever(start, server.stop, server.wait))


def base_parser(description: str, *, with_port: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    if with_port:
        parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--state-file", type=Path, default=None)
    return parser
