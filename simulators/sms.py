"""SMS gateway simulator: accepts messages once per Idempotency-Key and lists them."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Header
from pydantic import BaseModel, Field

from simulators._common import (
    JsonStateFile,
    add_health_and_log,
    base_parser,
    ensure_same_body,
    install_error_handlers,
    require_idempotency_key,
    serve_app,
    utc_iso,
)
from simulators.faults import HTTP_COUNTERS, ConfigActions, Faults, HttpKnobs, install_http_faults


class MessageIn(BaseModel):
    # Mainland mobile numbers, optionally with the +86 country code, as carriers accept them.
    to: str = Field(pattern=r"^(\+86)?1[3-9]\d{9}$")
    # 500 characters is what a carrier still concatenates into one long SMS.
    text: str = Field(min_length=1, max_length=500)


class MessageAccepted(BaseModel):
    message_id: str
    duplicate: bool


class SmsConfigIn(HttpKnobs, ConfigActions):
    """``POST /_sim/config``: the shared HTTP knobs; the SMS gateway has none of its own."""


class SmsState:
    def __init__(self, state_file: Path | None) -> None:
        self.faults = Faults(HttpKnobs(), HTTP_COUNTERS)
        self.store = JsonStateFile(state_file)
        saved = self.store.load() or {}
        self.messages: list[dict[str, Any]] = saved.get("messages", [])
        self.by_key = {m["idempotency_key"]: m for m in self.messages}

    def accept(self, key: str, message: MessageIn) -> MessageAccepted:
        existing = self.by_key.get(key)
        if existing is not None:
            stored = {"to": existing["to"], "text": existing["text"]}
            ensure_same_body(key, stored, message.model_dump())
            return MessageAccepted(message_id=existing["message_id"], duplicate=True)
        record = {
            "message_id": f"SM{uuid.uuid4().hex[:20].upper()}",
            "to": message.to,
            "text": message.text,
            "idempotency_key": key,
            "received_at": utc_iso(time.time()),
        }
        self.messages.append(record)
        self.by_key[key] = record
        self.store.save({"messages": self.messages})
        return MessageAccepted(message_id=record["message_id"], duplicate=False)


def create_app(state_file: Path | None = None) -> FastAPI:
    state = SmsState(state_file)
    app = FastAPI(title="SMS gateway simulator")
    app.state.sim = state
    install_error_handlers(app)
    install_http_faults(app, state.faults)
    add_health_and_log(app, lambda: state.messages)

    @app.post("/api/v1/messages", status_code=202, response_model=MessageAccepted)
    async def send(
        message: MessageIn,
        idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
    ) -> MessageAccepted:
        """Queue one SMS; a repeated Idempotency-Key returns the first message_id."""
        return state.accept(require_idempotency_key(idempotency_key), message)

    @app.get("/_sim/config")
    async def read_config() -> dict[str, Any]:
        """Current fault knobs and what they have injected."""
        return state.faults.view()

    @app.post("/_sim/config")
    async def write_config(config: SmsConfigIn) -> dict[str, Any]:
        """Change fault knobs; omitted fields keep their value, ``reset`` restores the defaults."""
        return state.faults.configure(config)

    return app


def main(argv: list[str] | None = None) -> None:
    args = base_parser("SMS gateway simulator").parse_args(argv)
    serve_app(create_app(args.state_file), args.host, args.port)


if __name__ == "__main__":
    main()
