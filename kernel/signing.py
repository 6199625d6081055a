"""HMAC signatures for registry callbacks, shared by the simulator and the product API.

The signed string is ``f"{timestamp}.{body}"`` so a captured request cannot be
replayed later with a fresh timestamp, and the body is signed as raw bytes so
that re-serialising JSON on either side can never change what is checked.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_PREFIX = "sha256="
TIMESTAMP_HEADER = "X-Registry-Timestamp"
SIGNATURE_HEADER = "X-Registry-Signature"


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """Return the header value ``sha256=<hex>`` for this timestamp and body."""
    message = str(timestamp).encode("ascii") + b"." + body
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def verify(
    secret: str,
    timestamp: int | str | None,
    body: bytes,
    signature: str | None,
    max_skew_s: int = 300,
    now: float | None = None,
) -> bool:
    """True when the signature matches and the timestamp is within ``max_skew_s`` of now."""
    if not timestamp or not signature:
        return False
    try:
        sent_at = int(str(timestamp))
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - sent_at) > max_skew_s:
        return False
    expected = sign(secret, sent_at, body)
    # compare_digest keeps the comparison time independent of where the strings differ,
    # so an attacker cannot discover a valid signature byte by byte.
    # Bytes, because compare_digest refuses non-ASCII str and a forged header may contain any.
    received = signature.strip().encode("utf-8", "replace")
    return hmac.compare_digest(expected.encode("ascii"), received)
