"""Sends notification e-mail over SMTP.

smtplib is blocking, so each send runs in a worker thread; opening one
connection per message keeps the mailer stateless and safe to share between
concurrent activities.
"""

from __future__ import annotations

import asyncio
import smtplib
from email.message import EmailMessage
from email.utils import formatdate

from activities.adapters.errors import PermanentExternalError, TransientExternalError

SYSTEM = "smtp"


def _error_for(codes: list[int]) -> type[TransientExternalError | PermanentExternalError]:
    # SMTP reply classes: 4xx means "try again later", 5xx means "never like this".
    if codes and all(400 <= code < 500 for code in codes):
        return TransientExternalError
    return PermanentExternalError


class SmtpMailer:
    def __init__(self, host: str, port: int, sender: str, timeout_s: float = 10.0) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.timeout_s = timeout_s

    async def send(self, to: str, subject: str, body: str, message_id: str) -> None:
        """Deliver one plain-text message; ``message_id`` lets the receiver drop duplicates."""
        message = self._build(to, subject, body, message_id)
        await asyncio.to_thread(self._deliver, message)

    def _build(self, to: str, subject: str, body: str, message_id: str) -> EmailMessage:
        message = EmailMessage()
        try:
            message["From"] = self.sender
            message["To"] = to
            message["Subject"] = subject
            # A stable Message-ID, not a random one, is what makes a retried send recognisable.
            message["Message-ID"] = f"<{message_id.strip().strip('<>')}>"
            message["Date"] = formatdate(localtime=True)
            message.set_content(body)
        except ValueError as exc:  # e.g. a header with a line break in it
            raise PermanentExternalError(f"cannot build the e-mail: {exc}") from exc
        return message

    def _deliver(self, message: EmailMessage) -> None:
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            detail = f"{SYSTEM} refused recipients: {exc.recipients}"
            raise _error_for(codes)(detail, code=str(codes[0]) if codes else None) from exc
        except smtplib.SMTPResponseException as exc:
            reply = exc.smtp_error
            text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
            detail = f"{SYSTEM} answered {exc.smtp_code}: {text}"
            raise _error_for([exc.smtp_code])(detail, code=str(exc.smtp_code)) from exc
        except smtplib.SMTPNotSupportedError as exc:
            detail = f"{SYSTEM} server lacks a needed extension: {exc}"
            raise PermanentExternalError(detail) from exc
        except OSError as exc:
            # Includes refused connections, timeouts and SMTPServerDisconnected.
            detail = f"{SYSTEM} unreachable: {type(exc).__name__}: {exc}"
            raise TransientExternalError(detail) from exc
