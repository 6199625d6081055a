"""The console's HTML shell (Jinja2) and static files; the data comes from the JSON API in the browser."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from api.errors import ApiError

PACKAGE_DIR = Path(__file__).parent
STATIC_DIR = PACKAGE_DIR / "static"
DEFAULT_LANGUAGE = "zh"
STATIC_NAME = r"^[a-z0-9_-]+\.(js|css|svg)$"

# The page runs only its own files: a token in sessionStorage must not meet injected script.
_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
        "form-action 'self'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
_STATIC_MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}


@cache
def messages() -> dict[str, dict[str, str]]:
    """The one dictionary of UI texts, `{language: {key: text}}`, shared by template and JS."""
    return json.loads((PACKAGE_DIR / "i18n.json").read_text(encoding="utf-8"))


@cache
def _templates() -> Environment:
    return Environment(
        loader=PackageLoader("api.console", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_page(api_prefix: str) -> str:
    texts = messages()[DEFAULT_LANGUAGE]
    template = _templates().get_template("console.html")
    return template.render(
        api_prefix=api_prefix,
        language=DEFAULT_LANGUAGE,
        messages=messages(),
        t=lambda key: texts.get(key, key),
    )


def build_router(api_prefix: str) -> APIRouter:
    router = APIRouter(prefix="/console", include_in_schema=False)
    page = render_page(api_prefix)  # static for the life of the process
    files = {path.name: path for path in STATIC_DIR.iterdir() if path.is_file()}

    @router.get("", response_class=HTMLResponse)
    async def console_page() -> HTMLResponse:
        """The single page: sign-in, inbox, case view."""
        return HTMLResponse(page, headers=_PAGE_HEADERS)

    @router.get("/static/{name}")
    async def console_static(name: Annotated[str, PathParam(pattern=STATIC_NAME)]) -> FileResponse:
        """One of the page's own files; nothing else on disk is reachable."""
        path = files.get(name)
        if path is None:
            raise ApiError(404, "not_found", f"no console file {name}")
        return FileResponse(
            path,
            media_type=_STATIC_MEDIA_TYPES[path.suffix],
            headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
        )

    return router
