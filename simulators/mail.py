"""Mail sink: a real SMTP server (aiosmtpd) plus an HTTP view of what it received.

SMTP and HTTP run in one event loop so the log needs no locking. A message whose
Message-ID was already received is counted, not stored again, which is how the
product proves that a retried notification did not reach the customer twice.

Faults act on SMTP only (the HTTP side is all /_sim/*): latency and hangs on
DATA, refusals (451 temporary, 550 permanent) on DATA or on RCPT.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import time
from pathlib import Path
from typing import Any, Literal

from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi import FastAPI

from simulators._common import (
    HttpServer,
    JsonStateFile,
    add_health_and_log,
    base_parser,
    bind_socket,
    install_error_handlers,
    run_forever,
    socket_address,
    utc_iso,
)
from simulators.faults import CommonKnobs, ConfigActions, Faults, Rate

SMTP_HOSTNAME = "jieya-mail-sim"
# 4xx replies mean "try again later", 5xx "never like this": what the mailer's retry hinges on.
TEMPORARY_REPLY = "451 4.3.0 Simulated temporary refusal ({why}), try again later"
PERMANENT_REPLY = "550 5.7.1 Simulated permanent refusal ({why})"
TIMEOUT_REPLY = "451 4.4.2 Simulated timeout (timeout_rate), try again later"
MAIL_COUNTERS = ("delayed", "timeouts", "temporary", "permanent")


class MailKnobs(CommonKnobs):
    """Latency and timeouts act on DATA; refusals on DATA or RCPT (``smtp_refuse_at``)."""

    smtp_refuse: Literal["temporary", "permanent"] | None = None
    # Only read while smtp_refuse is set, so "refuse every message" needs one field.
    smtp_refuse_rate: Rate = 1.0
    smtp_refuse_at: Literal["data", "rcpt"] = "data"


class MailConfigIn(MailKnobs, ConfigActions):
    """``POST /_sim/config``: omitted fields keep their value."""


class MailState:
    def __init__(self, state_file: Path | None = None) -> None:
        self.faults = Faults(MailKnobs(), MAIL_COUNTERS)
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

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        refused = self.refusal("rcpt")
        if refused is not None:
            return refused
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        faults = self.state.faults
        faults.requests += 1
        await faults.delay()
        if faults.fail.take():
            faults.count("temporary")
            return TEMPORARY_REPLY.format(why="fail_next")
        if faults.knobs.timeout_rate > 0 and faults.draw() < faults.knobs.timeout_rate:
            faults.count("timeouts")
            # Longer than the mailer's socket timeout: it gives up before this reply comes.
            await asyncio.sleep(faults.knobs.hang_s)
            return TIMEOUT_REPLY
        refused = self.refusal("data")
        if refused is not None:
            return refused
        self.state.receive(envelope)
        return "250 2.0.0 Message accepted"

    def refusal(self, stage: str) -> str | None:
        """The smtp_refuse reply for this command, or None to go on."""
        faults = self.state.faults
        knobs = faults.knobs
        if knobs.smtp_refuse is None or knobs.smtp_refuse_at != stage:
            return None
        if faults.draw() >= knobs.smtp_refuse_rate:
            return None
        faults.count(knobs.smtp_refuse)
        reply = TEMPORARY_REPLY if knobs.smtp_refuse == "temporary" else PERMANENT_REPLY
        return reply.format(why="smtp_refuse")


def create_app(state: MailState) -> FastAPI:
    app = FastAPI(title="Mail sink simulator")
    app.state.sim = state
    install_error_handlers(app)
    add_health_and_log(app, lambda: state.messages)

    @app.get("/_sim/config")
    async def read_config() -> dict[str, Any]:
        """Current fault knobs and what they have injected."""
        return state.faults.view()

    @app.post("/_sim/config")
    async def write_config(config: MailConfigIn) -> dict[str, Any]:
        """Change SMTP faults; omitted fields keep their value, ``reset`` restores the defaults."""
        return state.faults.configure(config)

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
