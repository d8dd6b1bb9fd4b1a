"""What reaches a stream client about the server's own providers: no internal URLs and
no credentials. Provider errors name their base URL for the operator (it is in the log,
`parley.engine`/`parley.providers`); the client's `error` event says "the configured
server" instead, and a `user:password@` or `?key=` never leaves."""

from __future__ import annotations

import re
from typing import Any

_URL = re.compile(r"\b(?:https?|wss?)://[^\s'\"<>)]+", re.IGNORECASE)
_SECRET = re.compile(r"(?i)\b(bearer\s+|api[_-]?key[=:]\s*|sk-)[A-Za-z0-9._~+/=-]{6,}")


def scrub(text: str) -> str:
    text = _URL.sub("the configured server", text)
    return _SECRET.sub(lambda m: m.group(1) + "***", text)


def public_event(payload: dict[str, Any]) -> dict[str, Any]:
    """An event as sent to the client: an `error` event's message scrubbed."""
    if payload.get("type") == "error" and isinstance(payload.get("message"), str):
        return {**payload, "message": scrub(payload["message"])}
    return payload
