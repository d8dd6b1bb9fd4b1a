"""`/playground`: the browser playground's static files (HTML, ES modules, CSS).

Nothing here knows a key: the page asks the person for their API key, keeps it in the
page's memory, and calls the ordinary REST API with it; the WebSocket is opened with a
short-lived stream token (see README.md in this directory). So this router serves files
only, from a fixed list built at import (no path from the request reaches the file
system), with headers that keep the page to its own origin:

    GET /playground           index.html
    GET /playground/          index.html
    GET /playground/<name>    one of the .js / .css files beside this module
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import Response

from parley.api.errors import ApiError

ROOT = Path(__file__).resolve().parent
INDEX = "index.html"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",  # module scripts need a JavaScript MIME type
    ".css": "text/css; charset=utf-8",
}

# Same-origin only: scripts and styles from here, fetch and WebSocket to this server (or
# the `websocket_url` it names, which may be wss:// behind a TLS proxy); no framing.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "microphone=(self)",
}

router = APIRouter(prefix="/playground", include_in_schema=False)


def _assets() -> dict[str, Path]:
    return {p.name: p for p in sorted(ROOT.iterdir()) if p.suffix in CONTENT_TYPES}


ASSETS = _assets()


def _file(name: str) -> Response:
    path = ASSETS.get(name)
    if path is None:
        raise ApiError(404, f"No playground file {name!r}.", None)
    headers = dict(HEADERS)
    if path.suffix == ".html":
        headers["Content-Security-Policy"] = CSP
    return Response(path.read_bytes(), media_type=CONTENT_TYPES[path.suffix], headers=headers)


@router.get("")
@router.get("/")
async def index() -> Response:
    """The playground page."""
    return _file(INDEX)


@router.get("/{name}")
async def asset(name: str) -> Response:
    """A script or style sheet of the page."""
    return _file(name)
