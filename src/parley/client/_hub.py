"""Where stream events go: handlers, the history `wait_for` searches, the iterator's queue.

All of it runs on the stream's event loop. Handlers run in order, one event at a time
(async handlers are awaited), so they see events in the order the server sent them; an
exception in a handler becomes a client-side `error` event and delivery goes on.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from parley.client.errors import STREAM_CLOSED, ParleyError
from parley.client.events import EVENT_TYPES, Close, ErrorEvent, Event, matches

log = logging.getLogger("parley.client")

Handler = Callable[[Any], object]  # called with the event; may return an awaitable
MAX_QUEUED = 5000  # events kept for `async for` (about 100 s of 20 ms audio chunks)


class EventHub:
    def __init__(self, max_queued: int = MAX_QUEUED) -> None:
        self._handlers: dict[str, list[Handler]] = {}
        self._history: dict[str, list[Event]] = {}
        self._arrival: dict[str, list[int]] = {}  # each history event's place in the stream
        self._received = 0
        self._claimed: dict[str, set[int]] = {}
        self._queue: deque[Event] = deque()
        self._max_queued = max_queued
        self._queue_dropped = 0
        self._wake = asyncio.Event()
        self.final: Close | None = None

    # --- handlers ----------------------------------------------------------------------

    def on(self, event_type: str, handler: Handler) -> None:
        if event_type != "*" and event_type not in EVENT_TYPES:
            raise ValueError(
                f"unknown event type {event_type!r}; known: {', '.join(EVENT_TYPES)} or '*'"
            )
        self._handlers.setdefault(event_type, []).append(handler)

    def off(self, event_type: str, handler: Handler | None = None) -> None:
        if handler is None:
            self._handlers.pop(event_type, None)
        elif handler in self._handlers.get(event_type, []):
            self._handlers[event_type].remove(handler)

    def has_handler(self, event_type: str) -> bool:
        return bool(self._handlers.get(event_type))

    async def emit(self, event: Event) -> None:
        """Record `event`, then run its handlers and the `*` ones (nothing after `close`)."""
        if self.final is not None:
            return
        if isinstance(event, Close):
            self.final = event
        if event.type != "audio":
            self._history.setdefault(event.type, []).append(event)
            self._arrival.setdefault(event.type, []).append(self._received)
            self._received += 1
        self._queue.append(event)
        if len(self._queue) > self._max_queued:
            self._queue.popleft()
            self._queue_dropped += 1
            if self._queue_dropped == 1:
                log.warning("stream events are not being iterated; dropping the oldest")
        self._notify()
        handlers = [*self._handlers.get(event.type, ()), *self._handlers.get("*", ())]
        for handler in handlers:
            try:
                result = handler(event)
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                await self._handler_failed(event, handler, exc)

    async def _handler_failed(self, event: Event, handler: Handler, exc: Exception) -> None:
        name = getattr(handler, "__qualname__", repr(handler))
        if isinstance(event, ErrorEvent) and event.code == "handler_error":
            log.exception("the %r handler %s failed on a handler_error", event.type, name)
            return
        await self.emit(
            ErrorEvent(
                code="handler_error",
                message=f"the {event.type!r} handler {name} raised {type(exc).__name__}: {exc}",
                client_side=True,
                exception=exc,
            )
        )

    def _notify(self) -> None:
        wake, self._wake = self._wake, asyncio.Event()
        wake.set()

    # --- wait_for ----------------------------------------------------------------------

    def find(self, event_type: str, match: Mapping[str, Any]) -> Event | None:
        """The earliest `event_type` event matching `match` that no earlier `find`
        returned; None if there is none yet."""
        i = self._first(event_type, match)
        if i is None:
            return None
        self._claimed.setdefault(event_type, set()).add(i)
        return self._history[event_type][i]

    def _first(self, event_type: str, match: Mapping[str, Any]) -> int | None:
        claimed = self._claimed.get(event_type, ())
        for i, event in enumerate(self._history.get(event_type, ())):
            if i not in claimed and matches(event, match):
                return i
        return None

    def _server_error_first(self, event_type: str, match: Mapping[str, Any]) -> ErrorEvent | None:
        """A server `error` not yet returned or raised that came before the earliest
        match (or with none yet): claimed, to be raised instead."""
        e = self._first("error", {"client_side": False})
        if e is None:
            return None
        m = self._first(event_type, match)
        if m is not None and self._arrival[event_type][m] < self._arrival["error"][e]:
            return None
        self._claimed.setdefault("error", set()).add(e)
        error = self._history["error"][e]
        assert isinstance(error, ErrorEvent)
        return error

    def poll(self, event_type: str, match: Mapping[str, Any], raise_on_error: bool) -> Event | None:
        """`find`, but with `raise_on_error` a server error that came first is raised."""
        if raise_on_error and event_type != "error":
            error = self._server_error_first(event_type, match)
            if error is not None:
                raise error.as_exception()
        return self.find(event_type, match)

    async def wait_for(
        self,
        event_type: str,
        within: float,
        match: Mapping[str, Any],
        raise_on_error: bool = False,
    ) -> Event:
        if event_type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {event_type!r}; known: {', '.join(EVENT_TYPES)}")
        if event_type == "audio":
            raise ValueError("wait_for does not keep audio; use on('audio', …) or stream.audio")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            wake = self._wake
            found = self.poll(event_type, match, raise_on_error)
            if found is not None:
                return found
            if self.final is not None:
                raise ParleyError(
                    None,
                    STREAM_CLOSED,
                    f"the stream closed ({self.final.code} {self.final.reason!r}) with no "
                    f"{event_type!r} event matching {dict(match)}",
                    close_code=self.final.code,
                )
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError(f"no {event_type!r} event matching {dict(match)} in {within}s")
            try:
                await asyncio.wait_for(wake.wait(), left)
            except TimeoutError:
                pass

    # --- iteration ---------------------------------------------------------------------

    def next_nowait(self) -> Event | None:
        """The next queued event, or None (then `final` says whether more can come)."""
        return self._queue.popleft() if self._queue else None

    async def next(self) -> Event:
        """The next queued event; StopAsyncIteration once the `close` event was taken."""
        while True:
            wake = self._wake
            if self._queue:
                return self._queue.popleft()
            if self.final is not None:
                raise StopAsyncIteration
            await wake.wait()
