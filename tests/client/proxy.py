"""A TCP proxy on 127.0.0.1 that can cut connections: a flaky network, on demand.

It runs its own asyncio loop in a thread (like the test servers), so sync and async tests
drive it alike::

    with TcpProxy(server.port) as proxy:           # proxy.url → the server, through it
        ...
        proxy.cut()              # abort every connection now (the client sees 1006)
        proxy.refuse = True      # new connections are accepted and dropped at once
        proxy.stream_connects()  # how many WebSocket connections to /stream were made
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import dataclass, field


@dataclass
class Link:
    first_line: str
    writers: list[asyncio.StreamWriter] = field(default_factory=list)


class TcpProxy:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.refuse = False
        self.links: list[Link] = []
        self.refused: list[str] = []
        self._live: set[int] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> TcpProxy:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", 0), self._loop
        ).result(5)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            assert self._server is not None
            self._server.close()
            self._cut()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    # --- control (any thread) ------------------------------------------------------------

    def cut(self) -> None:
        """Abort every live connection, both sides, without a WebSocket close."""
        self._loop.call_soon_threadsafe(self._cut)

    def _cut(self) -> None:
        for link in self.links:
            for writer in link.writers:
                writer.transport.abort()

    def stream_connects(self) -> int:
        """Connections whose request was a stream upgrade (refused ones included)."""
        lines = [link.first_line for link in self.links] + self.refused
        return sum(1 for line in lines if "/stream" in line)

    # --- the proxy -------------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.read(65536)
        first = head.split(b"\r\n", 1)[0].decode("latin-1")
        if self.refuse:
            self.refused.append(first)
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        link = Link(first, [writer, up_writer])
        self.links.append(link)
        up_writer.write(head)
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()
