"""The operator console: one small page at `/console` that speaks the JSON API from the browser."""

from __future__ import annotations

from fastapi import APIRouter

from api.console import content, pages


def console_router(api_prefix: str) -> APIRouter:
    """The page, its static files, and the document-bytes route the page needs under `api_prefix`."""
    router = APIRouter()
    router.include_router(pages.build_router(api_prefix))
    router.include_router(content.router, prefix=api_prefix)
    return router


__all__ = ["console_router"]
