"""The registry's callback signature; the product verifies with the same code."""

from kernel.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, verify

__all__ = ["SIGNATURE_HEADER", "TIMESTAMP_HEADER", "sign", "verify"]
