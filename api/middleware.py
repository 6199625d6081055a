"""Outermost layer: request metrics, and the last line against an unhandled exception."""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.bodies import body_too_large, too_large
from api.errors import ApiError, error_body, log


class Metrics:
    """Per-app registry, so two apps in one process (tests) never collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "jieya_http_requests_total",
            "HTTP requests by route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "jieya_http_request_duration_seconds",
            "HTTP request latency by route template",
            ["method", "route"],
            registry=self.registry,
        )
        # Read from the database at each scrape: cases waiting on a person because
        # a step gave up (alert when it stays above zero).
        self.open_incidents = Gauge(
            "jieya_open_incidents",
            "Open incident tasks by the step that gave up",
            ["step"],
            registry=self.registry,
        )


class ObserveRequests:
    """Counts and times every request; turns an unhandled exception into a logged 500."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as error:
            status = 500
            # A plain traceback, never one with locals: those hold headers with bearer tokens.
            log.error(
                "unhandled error",
                method=scope["method"],
                path=scope["path"],
                exception="".join(traceback.format_exception(error)),
            )
            if not response_started:
                await _send_internal_error(send)
        finally:
            route = _route_template(scope)
            method = scope["method"]
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - started)


def _route_template(scope: Scope) -> str:
    """`/api/v1/cases/{case_id}`: case ids must never become label values."""
    if scope.get("route") is None:
        return "unmatched"
    names = {str(value): name for name, value in (scope.get("path_params") or {}).items()}
    segments = scope["path"].split("/")
    return "/".join(f"{{{names[s]}}}" if s in names else s for s in segments)


async def _send_internal_error(send: Send) -> None:
    body = json.dumps(error_body("internal_error", "internal server error")).encode()
    await _send_json(send, 500, body)


async def _send_json(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


# Bodies that carry a file: they get the upload cap, every other body the smaller one.
UPLOAD_MEDIA_TYPES = frozenset({b"multipart/form-data", b"text/csv"})
# JSON requests are a few KiB; a megabyte leaves room and keeps a parser from chewing on more.
BODY_LIMIT = 1024 * 1024


class LimitBody:
    """Refuse bodies over their cap: at once by Content-Length, else while they arrive.

    Uploads (multipart, CSV) may reach `limit`; any other body only `body_limit`
    (never more than `limit`). A body that only claims to be an upload gets the
    larger cap, still bounded; a route that reads raw bytes (the registry callback)
    caps them itself."""

    def __init__(self, app: ASGIApp, limit: int, body_limit: int = BODY_LIMIT) -> None:
        self.app = app
        self.upload_limit = limit
        self.body_limit = min(body_limit, limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        limit, refuse = self._cap(headers.get(b"content-type", b""))
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            error = refuse(limit)
            body = json.dumps(error_body(error.code, error.message)).encode()
            await _send_json(send, 413, body)
            return
        received = 0

        async def capped_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Raised inside the app, so the error handlers answer it as a 413.
                    raise refuse(limit)
            return message

        await self.app(scope, capped_receive, send)

    def _cap(self, content_type: bytes) -> tuple[int, Callable[[int], ApiError]]:
        media_type = content_type.split(b";", 1)[0].strip().lower()
        if media_type in UPLOAD_MEDIA_TYPES:
            return self.upload_limit, too_large
        return self.body_limit, body_too_large


class CodecCors:
    """CORS for the paths under `prefix` only, and for `origins` only: the Temporal UI
    may call the codec endpoint from the browser; no other route is opened to it."""

    def __init__(self, app: ASGIApp, prefix: str, origins: list[str]) -> None:
        self.app = app
        self.prefix = prefix
        self.cors = CORSMiddleware(
            app,
            allow_origins=origins,
            allow_methods=["POST"],
            allow_headers=["Authorization", "Content-Type", "X-Namespace"],
            allow_credentials=True,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.prefix):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
