"""`ParleyError`: the one exception the SDK raises for API, network and stream failures."""

from __future__ import annotations

import json
from typing import Any

# Types of errors that happen on the client's side (the server's types come in its bodies).
CONNECTION_ERROR = "connection_error"  # could not reach the server, or the link broke
TIMEOUT = "timeout"
INVALID_RESPONSE = "invalid_response"  # the server answered something that is not the API
STREAM_CLOSED = "stream_closed"  # the stream is over (closed, ended, deleted, replaced)
STREAM_REFUSED = "stream_refused"  # the socket closed before `session_started`

_RETRYABLE_STATUS = {408, 425, 429, 500, 502, 503, 504}
# Close codes after which no new connection can help (see the stream's close codes).
_FINAL_CLOSE_CODES = {1000, 4000, 4409}


class ParleyError(Exception):
    """An API error (`status` is the HTTP status) or a client-side failure (`status` is None).

    `type` is the server's error type (`invalid_request_error`, `not_found_error`, …) or one
    of this module's client-side types; `param` names the offending field when known;
    `close_code` is the WebSocket close code when a stream ended with one.
    """

    def __init__(
        self,
        status: int | None,
        type: str,
        message: str,
        param: str | None = None,
        *,
        close_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type
        self.message = message
        self.param = param
        self.close_code = close_code

    def __str__(self) -> str:
        head = f"{self.status} {self.type}" if self.status is not None else self.type
        tail = f" (param: {self.param})" if self.param else ""
        code = f" [close code {self.close_code}]" if self.close_code is not None else ""
        return f"{head}: {self.message}{tail}{code}"

    def __repr__(self) -> str:
        return (
            f"ParleyError(status={self.status!r}, type={self.type!r}, "
            f"message={self.message!r}, param={self.param!r})"
        )

    @property
    def retryable(self) -> bool:
        """Whether trying again later may succeed (network trouble, 5xx, 429, …)."""
        if self.status is not None:
            return self.status in _RETRYABLE_STATUS
        if self.close_code is not None:
            return self.close_code not in _FINAL_CLOSE_CODES and not (
                4400 <= self.close_code < 4500 and self.close_code not in (4408, 4429)
            )
        return self.type in (CONNECTION_ERROR, TIMEOUT)


def error_from_body(status: int, body: bytes | str) -> ParleyError:
    """The `ParleyError` for an HTTP error response with the API's error shape (or not)."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        detail: Any = json.loads(text)["error"]
        return ParleyError(
            status,
            str(detail.get("type") or "api_error"),
            str(detail.get("message") or f"HTTP {status}"),
            detail.get("param"),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        snippet = " ".join(text.split())[:200] or f"HTTP {status} with an empty body"
        return ParleyError(status, "api_error", snippet)


def connection_error(exc: BaseException, what: str = "request") -> ParleyError:
    """Wrap a network-level failure (status None)."""
    kind = TIMEOUT if isinstance(exc, TimeoutError) or "Timeout" in type(exc).__name__ else None
    detail = str(exc) or type(exc).__name__
    return ParleyError(None, kind or CONNECTION_ERROR, f"{what} failed: {detail}")
