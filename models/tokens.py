"""Operator bearer tokens: random, shown once, stored only as a hash."""

import hashlib
import secrets

TOKEN_PREFIX = "jy_"


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    # Tokens carry 256 bits of randomness, so a fast hash is enough; a slow
    # KDF only matters for guessable secrets such as passwords.
    return hashlib.sha256(token.encode()).hexdigest()
