"""What the HTTP doubles share: an ASGI app served by uvicorn on 127.0.0.1 (ephemeral
port) in a daemon thread, so sync and async tests can both use it."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any, Self

import uvicorn


class ThreadedServer:
    """Subclasses provide `asgi_app()`; `start()`/`stop()` or a (sync or async) `with`."""

    thread_name = "server-double"
    graceful_shutdown_s = 1
    force_exit_on_stop = True  # do not wait for stalled responses
    asgi_interface = "asgi3"  # a plain `async def app(scope, receive, send)` is not guessed

    def __init__(self) -> None:
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def asgi_app(self) -> Any:
        raise NotImplementedError

    async def on_serving(self) -> None:
        """Runs on the server's own loop, before it serves (a hook for subclasses)."""

    async def _serve(self, sock: socket.socket) -> None:
        await self.on_serving()
        assert self._server is not None
        await self._server.serve(sockets=[sock])

    def start(self) -> Self:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.asgi_app(),
            interface=self.asgi_interface,  # type: ignore[arg-type]
            lifespan="off",
            loop="asyncio",
            http="h11",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=self.graceful_shutdown_s,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=asyncio.run, args=(self._serve(sock),), name=self.thread_name, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the {self.thread_name} did not start")
            time.sleep(0.005)
        return self

    def before_stop(self) -> None:
        """Called first by `stop()` (a hook for subclasses)."""

    def stop(self, wait: bool = True) -> None:
        """Stop serving. With `wait=False` the thread winds down in the background."""
        self.before_stop()
        if self._server is not None:
            self._server.should_exit = True
            self._server.force_exit = self.force_exit_on_stop
        if self._thread is not None and wait:
            self._thread.join(10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)
