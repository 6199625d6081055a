"""The operator console: one small page at `/console` that speaks the JSON API from the browser."""

from __future__ import annotations

from fastapi import APIRouter

from api.console import pages


def console_router(api_prefix: str) -> APIRouter:
    """The page and its static files; the data, document files included, come from the API."""
    return pages.build_router(api_prefix)


__all__ = ["console_router"]
