"""`Stream`: the blocking twin of `AsyncStream`, for code without an event loop.

    with client.conversations.stream(session_id) as stream:
        stream.on("transcript", lambda e: print(e.role, e.text))
        stream.play_file("question.wav")
        stream.wait_for("turn_end", role="assistant")

How: each `Stream` runs an `AsyncStream` on a private event loop in a daemon thread
(`_loop.LoopThread`), so the sync and async streams share all connection, reconnection
and delivery logic. Consequences worth knowing:

- handlers and tool callbacks run on that thread (tools in a worker thread), not yours;
- from a handler, the sending methods (`send_audio`, `inject_user_message`, …) queue their
  message and return at once; the blocking ones (`wait_for`, `play_file`, `connect`,
  iteration) raise `RuntimeError` there instead of deadlocking;
- the thread ends with `close()` (or the `with` block).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine, Iterator
from types import TracebackType
from typing import Any, TypeVar, overload

import numpy as np

from parley.client._http import ClientConfig
from parley.client._hub import Handler
from parley.client._loop import LoopEnded, LoopThread
from parley.client.audio import PathOrFile
from parley.client.events import Close, E, Event
from parley.client.stream import AsyncStream, StreamOptions
from parley.client.tools import ToolFunction

T = TypeVar("T")


class Stream:
    """The live stream of one conversation, blocking API. Create it with
    `Parley().conversations.stream(...)`; it connects on `with`, `connect()`, or the first
    send, wait or iteration."""

    def __init__(
        self,
        config: ClientConfig,
        session_id: str,
        options: StreamOptions | None = None,
        baseline: Callable[[], str | None] | None = None,
    ) -> None:
        self._baseline = baseline
        self._inner = AsyncStream(
            config, session_id, options, self._baseline_async if baseline else None
        )
        self._thread: LoopThread | None = None

    async def _baseline_async(self) -> str | None:
        assert self._baseline is not None
        return await asyncio.to_thread(self._baseline)

    # --- plumbing ----------------------------------------------------------------------

    def _blocking(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._inner.state == "new":
            self.connect()
        thread = self._thread
        if thread is None or not thread.alive:
            coro.close()
            raise self._inner.closed_error()
        try:
            return thread.run(coro)
        except LoopEnded:
            raise self._inner.closed_error() from None

    def _send(self, coro: Coroutine[Any, Any, None]) -> None:
        thread = self._thread
        if thread is not None and thread.in_loop_thread:
            thread.submit(coro)  # from a handler: queue it, don't wait on ourselves
            return
        self._blocking(coro)

    # --- the same surface as AsyncStream -------------------------------------------------

    @property
    def session_id(self) -> str:
        return self._inner.session_id

    @property
    def sample_rate(self) -> int:
        return self._inner.sample_rate

    @property
    def state(self) -> str:
        return self._inner.state

    @property
    def closed(self) -> bool:
        return self._inner.closed

    @property
    def close_event(self) -> Close | None:
        return self._inner.close_event

    @property
    def last_turn_id(self) -> str | None:
        return self._inner.last_turn_id

    @property
    def connection_attempts(self) -> int:
        return self._inner.connection_attempts

    @property
    def audio(self) -> np.ndarray:
        return self._inner.audio

    @property
    def audio_seconds(self) -> float:
        return self._inner.audio_seconds

    def save_audio(self, path: PathOrFile) -> None:
        self._inner.save_audio(path)

    def clear_audio(self) -> None:
        self._inner.clear_audio()

    @overload
    def on(self, event_type: str | type[Event]) -> Callable[[Handler], Handler]: ...

    @overload
    def on(self, event_type: str | type[Event], handler: Handler) -> Handler: ...

    def on(
        self, event_type: str | type[Event], handler: Handler | None = None
    ) -> Handler | Callable[[Handler], Handler]:
        """See `AsyncStream.on`; handlers run on the stream's thread."""
        if handler is None:
            return self._inner.on(event_type)
        return self._inner.on(event_type, handler)

    def off(self, event_type: str | type[Event], handler: Handler | None = None) -> None:
        self._inner.off(event_type, handler)

    @overload
    def tool(self, name: str) -> Callable[[ToolFunction], ToolFunction]: ...

    @overload
    def tool(self, name: str, fn: ToolFunction) -> ToolFunction: ...

    def tool(
        self, name: str, fn: ToolFunction | None = None
    ) -> ToolFunction | Callable[[ToolFunction], ToolFunction]:
        """See `AsyncStream.tool`."""
        if fn is None:
            return self._inner.tool(name)
        return self._inner.tool(name, fn)

    def connect(self) -> Stream:
        """Open the stream; `ParleyError` if the server refuses it."""
        if self._inner.closed:
            raise self._inner.closed_error()
        if self._thread is None:
            self._thread = LoopThread(f"parley-stream-{self._inner.session_id}")
        elif self._thread.in_loop_thread:
            raise RuntimeError("connect() cannot be called from a handler")
        try:
            self._thread.run(self._inner.connect())
        except BaseException:
            self._thread.stop()
            raise
        return self

    def __enter__(self) -> Stream:
        return self.connect()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def send_audio(self, audio: bytes | np.ndarray) -> None:
        self._send(self._inner.send_audio(audio))

    def play(
        self,
        samples: np.ndarray,
        sample_rate: int | None = None,
        then_silence: float = 0.0,
        chunk_ms: int = 20,
    ) -> float:
        """See `AsyncStream.play`; blocks for the audio's duration."""
        return self._blocking(self._inner.play(samples, sample_rate, then_silence, chunk_ms))

    def play_file(
        self, path: str | os.PathLike[str], then_silence: float = 1.5, chunk_ms: int = 20
    ) -> float:
        """See `AsyncStream.play_file`; blocks for the file's duration plus the silence."""
        return self._blocking(self._inner.play_file(path, then_silence, chunk_ms))

    def send_silence(self, seconds: float) -> float:
        return self._blocking(self._inner.send_silence(seconds))

    def inject_user_message(self, text: str) -> None:
        self._send(self._inner.inject_user_message(text))

    def inject_agent_message(self, text: str) -> None:
        self._send(self._inner.inject_agent_message(text))

    def update_prompt(self, prompt: str) -> None:
        self._send(self._inner.update_prompt(prompt))

    def update_voice(self, voice_id: str) -> None:
        self._send(self._inner.update_voice(voice_id))

    def send_tool_result(self, call_id: str, result: Any = None, error: str | None = None) -> None:
        self._send(self._inner.send_tool_result(call_id, result, error))

    def keep_alive(self) -> None:
        self._send(self._inner.keep_alive())

    @overload
    def wait_for(
        self,
        event_type: type[E],
        timeout: float = 30.0,
        *,
        raise_on_error: bool | None = None,
        **match: Any,
    ) -> E: ...

    @overload
    def wait_for(
        self,
        event_type: str,
        timeout: float = 30.0,
        *,
        raise_on_error: bool | None = None,
        **match: Any,
    ) -> Event: ...

    def wait_for(
        self,
        event_type: str | type[Event],
        timeout: float = 30.0,
        *,
        raise_on_error: bool | None = None,
        **match: Any,
    ) -> Event:
        """See `AsyncStream.wait_for` (blocking): a server `error` event raises
        `ParleyError` at once unless `raise_on_error=False`."""
        if raise_on_error is None:
            raise_on_error = self._inner.options.raise_on_error
        found = self._inner.find(event_type, raise_on_error=raise_on_error, **match)
        if found is not None:
            return found
        if self._inner.closed:  # nothing more can come; let the async side explain
            thread = self._thread
            if thread is None or not thread.alive:
                raise self._inner.closed_error()
        return self._blocking(
            self._inner.wait_for(event_type, timeout, raise_on_error=raise_on_error, **match)
        )

    @overload
    def find(
        self, event_type: type[E], *, raise_on_error: bool = False, **match: Any
    ) -> E | None: ...

    @overload
    def find(
        self, event_type: str, *, raise_on_error: bool = False, **match: Any
    ) -> Event | None: ...

    def find(
        self, event_type: str | type[Event], *, raise_on_error: bool = False, **match: Any
    ) -> Event | None:
        return self._inner.find(event_type, raise_on_error=raise_on_error, **match)

    def __iter__(self) -> Iterator[Event]:
        self._inner.__aiter__()
        return self

    def __next__(self) -> Event:
        thread = self._thread
        if self._inner.closed and (thread is None or not thread.alive):
            event = self._inner.next_nowait()  # drain what is left, without a loop
            if event is None:
                raise StopIteration
            return event
        try:
            return self._blocking(self._inner.__anext__())
        except StopAsyncIteration:
            raise StopIteration from None

    def close(self) -> None:
        """Close the stream and end its thread; the `close` event is the last."""
        thread = self._thread
        if thread is None:
            self._blocking_free_close()
            return
        if thread.in_loop_thread:
            thread.submit(self._close_then_stop(thread))
            return
        if thread.alive:
            thread.run(self._inner.close())
        thread.stop()

    async def _close_then_stop(self, thread: LoopThread) -> None:
        await self._inner.close()
        thread.stop()

    def _blocking_free_close(self) -> None:
        """Close a stream that never connected (nothing runs yet)."""
        if not self._inner.closed:
            asyncio.run(self._inner.close())
