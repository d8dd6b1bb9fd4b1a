"""`AsyncStream`: talk to one conversation over its WebSocket, asynchronously.

    async with client.conversations.stream(session_id) as stream:
        stream.on("transcript", lambda e: print(e.role, e.text))

        @stream.tool("lookup_order")
        async def lookup_order(order_id: str) -> dict:
            return {"status": "shipped"}

        await stream.play_file("question.wav", then_silence=1.5)
        await stream.wait_for("turn_end", role="assistant")
        stream.save_audio("reply.wav")

Events are typed objects (`parley.client.events`), the same for handlers, `wait_for` and
`async for event in stream`. A server `error` event makes `wait_for` and iteration raise
`ParleyError` (its `type` is the error's code) unless `raise_on_error=False`. Connection
handling and reconnection live in `_link.StreamLink`, delivery (the exactly-once turn
guarantee) in `_delivery`, sending in `_outbox`, automatic tool answers in `_tool_answers`.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from types import TracebackType
from typing import Any, overload

import numpy as np

from parley.client._http import ClientConfig
from parley.client._hub import Handler
from parley.client._link import BaselineFn, StreamLink, StreamOptions
from parley.client.audio import PathOrFile, as_int16, at_rate, load_wav
from parley.client.errors import ParleyError
from parley.client.events import Close, E, ErrorEvent, Event, event_name
from parley.client.tools import ToolFunction

__all__ = ["AsyncStream", "StreamOptions"]


class AsyncStream:
    """The live stream of one conversation. Create it with
    `AsyncParley().conversations.stream(...)`; it connects on `async with`, `connect()`,
    or the first send, wait or iteration."""

    def __init__(
        self,
        config: ClientConfig,
        session_id: str,
        options: StreamOptions | None = None,
        baseline: BaselineFn | None = None,
    ) -> None:
        self._link = StreamLink(config, session_id, options, baseline)
        self._hub = self._link.delivery.hub
        self.session_id = session_id
        self.options = self._link.options
        self.sample_rate = self.options.sample_rate
        self.encoding = self.options.encoding

    # --- state -----------------------------------------------------------------------

    @property
    def state(self) -> str:
        """`new`, `connecting`, `open`, `reconnecting` or `closed`."""
        return self._link.state

    @property
    def closed(self) -> bool:
        return self._link.state == "closed"

    @property
    def close_event(self) -> Close | None:
        """The final `close` event, once the stream is over."""
        return self._hub.final

    @property
    def last_turn_id(self) -> str | None:
        """The latest turn whose `turn_end` was delivered (what a reconnection resumes
        from); keep it to resume in another process with `stream(..., last_turn_id=…)`."""
        return self._link.delivery.turns.resume_from

    @property
    def connection_attempts(self) -> int:
        """Sockets opened or tried (the first connection and every reconnection attempt)."""
        return self._link.connection_attempts

    @property
    def replays_dropped(self) -> int:
        """Replayed final transcripts and turn_ends dropped as already delivered."""
        return self._link.delivery.turns.dropped

    @property
    def audio(self) -> np.ndarray:
        """All assistant speech received so far (int16 mono at `sample_rate`)."""
        return self._link.delivery.audio.samples()

    @property
    def audio_seconds(self) -> float:
        return self._link.delivery.audio.seconds

    def save_audio(self, path: PathOrFile) -> None:
        """Write the received speech to a WAV file."""
        self._link.delivery.audio.save(path)

    def clear_audio(self) -> None:
        self._link.delivery.audio.clear()

    def closed_error(self) -> ParleyError:
        """The `ParleyError` a use of the closed stream raises (close code and reason)."""
        return self._link.closed_error()

    # --- registration ------------------------------------------------------------------

    @overload
    def on(self, event_type: str | type[Event]) -> Callable[[Handler], Handler]: ...

    @overload
    def on(self, event_type: str | type[Event], handler: Handler) -> Handler: ...

    def on(
        self, event_type: str | type[Event], handler: Handler | None = None
    ) -> Handler | Callable[[Handler], Handler]:
        """Call `handler(event)` for every `event_type` event (a name or an event class;
        `"*"`: all). Plain or `async def`; usable as a decorator
        (`@stream.on("transcript")`)."""
        name = event_name(event_type)
        if handler is None:

            def register(fn: Handler) -> Handler:
                self._hub.on(name, fn)
                return fn

            return register
        self._hub.on(name, handler)
        return handler

    def off(self, event_type: str | type[Event], handler: Handler | None = None) -> None:
        """Remove one handler, or all of an event type's."""
        self._hub.off(event_name(event_type), handler)

    @overload
    def tool(self, name: str) -> Callable[[ToolFunction], ToolFunction]: ...

    @overload
    def tool(self, name: str, fn: ToolFunction) -> ToolFunction: ...

    def tool(
        self, name: str, fn: ToolFunction | None = None
    ) -> ToolFunction | Callable[[ToolFunction], ToolFunction]:
        """Answer the model's `name` tool calls with `fn(**arguments)` (see `tools`)."""
        if fn is None:

            def register(f: ToolFunction) -> ToolFunction:
                self._link.tools.registry.register(name, f)
                return f

            return register
        self._link.tools.registry.register(name, fn)
        return fn

    async def connect(self) -> AsyncStream:
        """Open the stream (once `session_started` arrived and its handlers ran). Raises
        `ParleyError` if the server refuses it (404 unknown, 410 ended, 401 key…)."""
        await self._link.connect()
        return self

    async def close(self) -> None:
        """Close the stream (no reconnection follows); the `close` event is the last."""
        await self._link.close()

    async def __aenter__(self) -> AsyncStream:
        return await self.connect()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # --- sending -----------------------------------------------------------------------

    async def send_audio(self, audio: bytes | np.ndarray) -> None:
        """Send microphone audio: `bytes` in the stream's encoding (one message), or
        mono samples at the stream's rate (int16, or float in [-1, 1]) that the SDK
        encodes. Dropped while reconnecting; `ParleyError` once the stream is closed."""
        await self._link.ensure_open()
        outbox = self._link.outbox
        if isinstance(audio, bytes | bytearray | memoryview):
            messages = [bytes(audio)]
        else:
            messages = outbox.encode(as_int16(audio))
        await outbox.send_binary(messages)

    async def play(
        self,
        samples: np.ndarray,
        sample_rate: int | None = None,
        then_silence: float = 0.0,
        chunk_ms: int = 20,
    ) -> float:
        """Stream `samples` (at `sample_rate`, default the stream's) in real time, in
        `chunk_ms` chunks, then `then_silence` seconds of silence (a microphone left
        open). Returns the seconds sent; returns early if the stream closes."""
        await self._link.ensure_open()
        audio = at_rate(samples, sample_rate, self.sample_rate)
        if then_silence > 0:
            silence = np.zeros(int(then_silence * self.sample_rate), dtype=np.int16)
            audio = np.concatenate([audio, silence])
        step = max(1, self.sample_rate * chunk_ms // 1000)
        loop = asyncio.get_running_loop()
        start = loop.time()
        sent = 0
        for i, offset in enumerate(range(0, len(audio), step)):
            if self.closed:
                break
            chunk = audio[offset : offset + step]
            await self.send_audio(chunk)
            sent += len(chunk)
            delay = start + (i + 1) * step / self.sample_rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
        return sent / self.sample_rate

    async def play_file(
        self, path: str | os.PathLike[str], then_silence: float = 1.5, chunk_ms: int = 20
    ) -> float:
        """Stream a WAV file as if spoken into the microphone (any rate or channel count;
        resampled to the stream's), then `then_silence` seconds of silence."""
        samples = await asyncio.to_thread(load_wav, path, self.sample_rate)
        return await self.play(samples, then_silence=then_silence, chunk_ms=chunk_ms)

    async def send_silence(self, seconds: float) -> float:
        """Real-time silence: keeps the microphone "open" so the server can end a turn."""
        return await self.play(np.zeros(0, dtype=np.int16), then_silence=seconds)

    async def inject_user_message(self, text: str) -> None:
        """A typed user turn (interrupts a reply in progress)."""
        await self._link.send_control({"type": "inject_user_message", "text": text})

    async def inject_agent_message(self, text: str) -> None:
        """Make the assistant say `text` now, as its own turn."""
        await self._link.send_control({"type": "inject_agent_message", "text": text})

    async def update_prompt(self, prompt: str) -> None:
        """Replace the system prompt from the next reply on."""
        await self._link.send_control({"type": "update_prompt", "prompt": prompt})

    async def update_voice(self, voice_id: str) -> None:
        """Switch the assistant's voice from the next sentence on."""
        await self._link.send_control({"type": "update_voice", "voice_id": voice_id})

    async def send_tool_result(
        self, call_id: str, result: Any = None, error: str | None = None
    ) -> None:
        """Answer a `tool_call`: its `result` (JSON-serialisable), or an `error` text."""
        await self._link.send_tool_result(call_id, result, error)

    async def keep_alive(self) -> None:
        """Tell proxies the socket is in use (the SDK also sends WebSocket pings)."""
        await self._link.send_control({"type": "keep_alive"}, hold=False)

    # --- waiting and iterating ---------------------------------------------------------

    @overload
    async def wait_for(
        self,
        event_type: type[E],
        timeout: float = 30.0,  # noqa: ASYNC109 - what callers of wait_for expect
        *,
        raise_on_error: bool | None = None,
        **match: Any,
    ) -> E: ...

    @overload
    async def wait_for(
        self,
        event_type: str,
        timeout: float = 30.0,  # noqa: ASYNC109
        *,
        raise_on_error: bool | None = None,
        **match: Any,
    ) -> Event: ...

    async def wait_for(
        self,
        event_type: str | type[Event],
        timeout: float = 30.0,  # noqa: ASYNC109
        *,
        raise_on_error: bool | None = None,
        **match: Any,
    ) -> Event:
        """The earliest `event_type` event (a name, or a class for a typed result:
        `wait_for(TurnEnd, role="assistant")`) whose fields equal `match` and that no
        earlier `wait_for`/`find` returned, waiting for it if needed; events received
        before the call count. `TimeoutError` after `timeout` seconds, `ParleyError`
        (`stream_closed`) if the stream ends first.

        A server `error` event that came before the match (and that no earlier wait
        raised or returned) raises `ParleyError` with the error's `code` as `type` and
        its `message`, at once: e.g. `llm_not_configured` instead of a timeout.
        `raise_on_error=False` (or the stream's option) waits on regardless; waiting for
        `"error"` itself never raises for one. Not for `audio`; never await it in a
        handler (events are delivered one at a time: it would wait for itself)."""
        if self.state == "new":
            await self.connect()
        if raise_on_error is None:
            raise_on_error = self.options.raise_on_error
        return await self._hub.wait_for(event_name(event_type), timeout, match, raise_on_error)

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
        """`wait_for` without waiting: the matching event (then claimed), or None; with
        `raise_on_error=True` a server error that came first raises as in `wait_for`."""
        return self._hub.poll(event_name(event_type), match, raise_on_error)

    def __aiter__(self) -> AsyncStream:
        self._link.tools.iterating = True
        return self

    async def __anext__(self) -> Event:
        """The next event; a server `error` event is raised as `ParleyError` instead
        (unless the stream was opened with `raise_on_error=False`)."""
        if self.state == "new":
            await self.connect()
        return self._checked(await self._hub.next())

    def next_nowait(self) -> Event | None:
        """The next event already received (as iteration gives it), or None."""
        event = self._hub.next_nowait()
        return None if event is None else self._checked(event)

    def _checked(self, event: Event) -> Event:
        if self.options.raise_on_error and isinstance(event, ErrorEvent):
            if not event.client_side:
                raise event.as_exception()
        return event
