"""The live streams of this process, by session id, so REST calls can reach them
(DELETE closes a stream at once; a second connection takes over from the first)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

Closer = Callable[[int, str], Awaitable[None]]


@dataclass
class LiveHandle:
    session_id: str
    close: Closer


class LiveStreams:
    def __init__(self) -> None:
        self._live: dict[str, LiveHandle] = {}
        self._lock = asyncio.Lock()

    async def take_over(self, handle: LiveHandle, reason: str) -> None:
        """Register `handle`, closing whatever stream the session had before."""
        async with self._lock:
            previous = self._live.get(handle.session_id)
            self._live[handle.session_id] = handle
        if previous is not None:
            await previous.close(4409, reason)

    def release(self, handle: LiveHandle) -> None:
        if self._live.get(handle.session_id) is handle:
            del self._live[handle.session_id]

    async def close(self, session_id: str, code: int, reason: str) -> bool:
        handle = self._live.pop(session_id, None)
        if handle is None:
            return False
        await handle.close(code, reason)
        return True

    def __len__(self) -> int:
        return len(self._live)
