"""Limits: request bodies (413), request rate (429 with Retry-After, per account and
for the whole process), live streams per account and in total."""

from __future__ import annotations

import json
import math
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from parley.api.errors import ApiError, error_body


class _TooLarge(Exception):
    pass


class BodySizeLimit:
    """Pure ASGI middleware: checks Content-Length up front and counts chunked bodies."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    await self._reject(send)
                    return
        seen = 0
        exceeded = False
        rejected = False

        async def counting_receive() -> Message:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    exceeded = True
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            # Whatever the app answers to a body cut short (frameworks turn the error
            # into a 400), the client gets the 413 instead.
            nonlocal rejected
            if not exceeded:
                await send(message)
            elif not rejected:
                rejected = True
                await self._reject(send)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except _TooLarge:
            if not rejected:
                await self._reject(send)

    async def _reject(self, send: Send) -> None:
        message = f"The request body is larger than {self.max_bytes} bytes."
        await send_error(send, 413, message)


async def send_error(
    send: Send, status: int, message: str, headers: dict[str, str] | None = None
) -> None:
    """Answer with the error shape from a pure ASGI middleware."""
    body = json.dumps(error_body(status, message)).encode()
    extra = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *extra,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class TokenBucket:
    """Requests per second with a burst, per key (an account, or "*" for the process)."""

    def __init__(self, rate_per_s: float, burst: int) -> None:
        self.rate = max(rate_per_s, 1e-9)
        self.burst = max(float(burst), 1.0)
        self._buckets: dict[str, tuple[float, float]] = {}  # key → (tokens, at)

    def take(self, key: str, now: float | None = None) -> float:
        """0.0 if the request may go, else the seconds until it may (Retry-After)."""
        now = time.monotonic() if now is None else now
        tokens, at = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            if len(self._buckets) > 10_000:
                self._forget_full(now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1.0 - tokens) / self.rate

    def _forget_full(self, now: float) -> None:
        for key, (tokens, at) in list(self._buckets.items()):
            if tokens + (now - at) * self.rate >= self.burst:
                del self._buckets[key]


def too_many(retry_after: float, what: str) -> ApiError:
    seconds = max(1, math.ceil(retry_after))
    return ApiError(
        429,
        f"Too many requests {what}; retry after {seconds} s.",
        None,
        headers={"Retry-After": str(seconds)},
    )


class GlobalRateLimit:
    """Pure ASGI middleware: the process-wide request budget (429 + Retry-After)."""

    def __init__(self, app: ASGIApp, rate_per_s: float, burst: int) -> None:
        self.app = app
        self.bucket = TokenBucket(rate_per_s, burst)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        wait = self.bucket.take("*")
        if wait <= 0:
            await self.app(scope, receive, send)
            return
        err = too_many(wait, "to this server")
        await send_error(send, 429, err.message, err.headers)


class StreamSlots:
    """Live streams per account and in total. A session counts once, however many of its
    connections overlap during a takeover."""

    def __init__(self, per_account: int, total: int) -> None:
        self.per_account = per_account
        self.total = total
        self._sessions: dict[str, dict[str, int]] = {}  # account → session → connections

    def acquire(self, account: str, session_id: str) -> str | None:
        """None if the stream may open (it is counted), else why not."""
        mine = self._sessions.setdefault(account, {})
        if session_id not in mine:
            if len(mine) >= self.per_account:
                return f"This account already has {self.per_account} live streams (the limit)."
            if sum(len(s) for s in self._sessions.values()) >= self.total:
                return f"The server already has {self.total} live streams (the limit)."
        mine[session_id] = mine.get(session_id, 0) + 1
        return None

    def release(self, account: str, session_id: str) -> None:
        mine = self._sessions.get(account, {})
        left = mine.get(session_id, 0) - 1
        if left > 0:
            mine[session_id] = left
        else:
            mine.pop(session_id, None)
        if not mine:
            self._sessions.pop(account, None)
