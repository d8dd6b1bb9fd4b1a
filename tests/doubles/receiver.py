"""An HTTP endpoint that records what it is sent: a webhook receiver, over real HTTP.

with Receiver() as rx:                      # 127.0.0.1, ephemeral port
    rx.plan(Reply(500), Reply(500))         # the next two requests fail, then 200s
    rx.default = Reply(200, delay=60)       # or: every later request hangs
    ... point the server at rx.url("/hook") ...
    requests = rx.wait_for(lambda got: len(got) >= 3, timeout=10)
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.doubles.threaded import ThreadedServer


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b"ok"
    delay: float = 0.0  # seconds before answering (a hanging receiver: a long delay)
    headers: tuple[tuple[bytes, bytes], ...] = ()


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)


class Receiver(ThreadedServer):
    thread_name = "webhook-receiver"

    def __init__(self) -> None:
        super().__init__()
        self.received: list[Received] = []
        self.default = Reply()
        self._plan: deque[Reply] = deque()
        self._changed = threading.Condition()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def plan(self, *replies: Reply) -> None:
        self._plan.extend(replies)

    def wait_for(
        self, done: Callable[[list[Received]], bool], timeout: float = 10.0
    ) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not done(self.received):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"receiver: condition not met; got {self.received!r}")
                self._changed.wait(left)
            return list(self.received)

    def asgi_app(self) -> Any:
        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                return
            body = b""
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
            headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
            with self._changed:
                self.received.append(Received(scope["method"], scope["path"], headers, body))
                reply = self._plan.popleft() if self._plan else self.default
                self._changed.notify_all()
            if reply.delay:
                await asyncio.sleep(reply.delay)
            await send(
                {
                    "type": "http.response.start",
                    "status": reply.status,
                    "headers": [(b"content-type", b"text/plain"), *reply.headers],
                }
            )
            await send({"type": "http.response.body", "body": reply.body})

        return app
