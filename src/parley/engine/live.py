"""What a live conversation holds besides its floor (`conversation.py` decides turns):
the outlet to its transport, its background tasks, its observers, and their release.
No state moves here."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from parley.engine import events as ev
from parley.engine.endpointing import EndOfTurnDecided
from parley.engine.sink import Outlet
from parley.engine.state import Transition
from parley.providers.stt.base import STTError

Observer = Callable[[Transition | EndOfTurnDecided], None]


class LiveParts:
    def __init__(self, session_id: str, observer: Observer | None) -> None:
        self.id = session_id
        self.out = Outlet(session_id)
        self._observers: list[Observer] = [observer] if observer else []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False  # resources released (the conversation may live on elsewhere)

    def _tell(self, fact: Transition | EndOfTurnDecided) -> None:
        for observer in self._observers:
            observer(fact)

    async def emit(self, event: ev.Event) -> None:
        await self.out.event(event)

    async def _stt_failed(self, exc: STTError) -> None:
        await self.emit(ev.ErrorEvent(exc.code, exc.message))

    def _spawn(self, coro: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        task.set_name(f"{self.id}:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        return self._spawn(coro, name)

    async def close(self) -> None:
        """Release per-conversation resources (the STT stream, background tasks)."""
        if self._closed:
            return
        self._closed = True
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current and not task.done():
                task.cancel()
        with contextlib.suppress(Exception):
            await self._release()

    async def _release(self) -> None:
        """What the conversation holds beyond its tasks (its STT stream)."""
