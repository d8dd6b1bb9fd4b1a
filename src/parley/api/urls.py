"""Public URLs as the client sees them (honouring proxies' X-Forwarded-* headers)."""

from __future__ import annotations

from starlette.requests import HTTPConnection


def public_base(conn: HTTPConnection, configured: str | None = None) -> tuple[str, str]:
    """(scheme, host) of the server as the client reached it: `("https", "voice.example")`."""
    if configured:
        scheme, _, rest = configured.partition("://")
        return scheme, rest.rstrip("/")
    headers = conn.headers
    scheme = headers.get("x-forwarded-proto", "").split(",")[0].strip() or conn.url.scheme
    host = headers.get("x-forwarded-host", "").split(",")[0].strip() or headers.get("host")
    if not host:
        host = conn.url.netloc
    return scheme.lower(), host


def websocket_url(conn: HTTPConnection, session_id: str, configured: str | None = None) -> str:
    scheme, host = public_base(conn, configured)
    ws = "wss" if scheme in ("https", "wss") else "ws"
    return f"{ws}://{host}/v1/conversations/{session_id}/stream"


def http_url(conn: HTTPConnection, path: str, configured: str | None = None) -> str:
    scheme, host = public_base(conn, configured)
    http = "https" if scheme in ("https", "wss") else "http"
    return f"{http}://{host}{path}"
