"""Mail sink: a real SMTP server (aiosmtpd) plus an HTTP view of what it received.

SMTP and HTTP run in one event loop so the log needs no locking. A message whose
Message-ID was already received is counted, not stored again, which is how the
product proves that a retried notification did not reach the customer twice.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import time
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi import FastAPI

from simulators._common import (
    FailNext,
    HttpServer,
    JsonStateFile,
    SimConfigBase,
    add_health_and_log,
    base_parser,
    bind_socket,
    install_error_handlers,
    run_forever,
    socket_address,
    utc_iso,
)

SMTP_HOSTNAME = "jieya-mail-sim"


class MailState:
    def __init__(self, state_file: Path | None = None) -> None:
        self.fail = FailNext()
        self.store = JsonStateFile(state_file)
        saved = self.store.load() or {}
        self.messages: list[dict[str, Any]] = saved.get("messages", [])
        self.by_message_id = {m["message_id"]: m for m in self.messages if m["message_id"]}

    def receive(self, envelope: Envelope) -> None:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        # policy.default yields EmailMessage, whose get_body() picks the text/plain part.
        message = email.message_from_bytes(raw, policy=email.policy.default)
        # Stored without angle brackets: that is the id the sender chose.
        message_id = str(message.get("Message-ID", "")).strip().strip("<>") or None
        if message_id is not None and message_id in self.by_message_id:
            self.by_message_id[message_id]["duplicate_deliveries"] += 1
            self.store.save({"messages": self.messages})
            return
        body = message.get_body(preferencelist=("plain",))
        # SMTP forces CRLF and a final newline; undo both so the text reads as it was written.
        text = "" if body is None else body.get_content().replace("\r\n", "\n").rstrip("\n")
        record = {
            "message_id": message_id,
            "from": str(message.get("From", envelope.mail_from or "")),
            "to": list(envelope.rcpt_tos),
            "subject": str(message.get("Subject", "")),
            "text": text,
            "received_at": utc_iso(time.time()),
            "duplicate_deliveries": 0,
        }
        self.messages.append(record)
        if message_id is not None:
            self.by_message_id[message_id] = record
        self.store.save({"messages": self.messages})


class SinkHandler:
    """aiosmtpd handler; the return value is the SMTP reply to the DATA command."""

    def __init__(self, state: MailState) -> None:
        self.state = state

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.state.fail.take():
            # 451 is a temporary failure: a correct client retries later.
            return "451 4.3.0 Simulated outage (fail_next), try again later"
        self.state.receive(envelope)
        return "250 2.0.0 Message accepted"


def create_app(state: MailState) -> FastAPI:
    app = FastAPI(title="Mail sink simulator")
    app.state.sim = state
    install_error_handlers(app)
    add_health_and_log(app, lambda: state.messages)

    @app.get("/_sim/config")
    async def read_config() -> dict[str, int]:
        """Current injected failures."""
        return state.fail.view()

    @app.post("/_sim/config")
    async def write_config(config: SimConfigBase) -> dict[str, int]:
        """Answer the next ``fail_next`` messages with a temporary SMTP failure (451)."""
        if config.fail_next is not None:
            state.fail.remaining = config.fail_next
        return state.fail.view()

    return app


async def _serve(host: str, smtp_port: int, http_port: int, state_file: Path | None) -> None:
    state = MailState(state_file)
    http = HttpServer(create_app(state), bind_socket(host, http_port))
    smtp_sock = bind_socket(host, smtp_port)
    loop = asyncio.get_running_loop()
    handler = SinkHandler(state)
    smtp_server: asyncio.Server | None = None

    def protocol() -> SMTP:
        # A fixed hostname avoids socket.getfqdn(), which can stall on a machine without DNS.
        return SMTP(handler, hostname=SMTP_HOSTNAME, enable_SMTPUTF8=True, loop=loop)

    async def start() -> str:
        nonlocal smtp_server
        smtp_server = await loop.create_server(protocol, sock=smtp_sock)
        await http.start()
        return f"smtp={socket_address(smtp_sock)} http={http.url}"

    async def stop() -> None:
        await http.stop()
        if smtp_server is not None:
            smtp_server.close()
            await smtp_server.wait_closed()

    await run_forever(start, stop, http.wait)


def main(argv: list[str] | None = None) -> None:
    parser = base_parser("Mail sink simulator (SMTP + HTTP log)", with_port=False)
    parser.add_argument("--smtp-port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--http-port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.host, args.smtp_port, args.http_port, args.state_file))


if __name__ == "__main__":
    main()
