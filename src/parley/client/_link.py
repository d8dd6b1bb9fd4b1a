"""The connection machinery under `AsyncStream`, resilient to dropped connections.

Lifecycle::

    new ──connect()──▶ open ──link drops──▶ reconnecting ──back──▶ open …
                        │                        │ gave up / refused
                        └── close(), session_ended, deleted (4000), replaced (4409) ──▶ closed

- Handlers (`on`) and the iterator (`async for`) see the server's events as typed objects
  (`parley.client.events`), plus `audio`, `disconnected`, `reconnected` and, last, `close`.
- A drop that is not an end (no `session_ended`; close code not 1000, 4000, 4409 or a
  refusal) is followed by reconnections with exponential backoff and full jitter
  (`resume.backoff_delay`), each passing `last_turn_id`; the server replays the turns
  stored meanwhile and `resume.TurnFilter` delivers each turn's final `transcript` and
  `turn_end` exactly once. `session_started` is delivered once; a reconnection shows up
  as `reconnected`.
- While reconnecting, microphone audio is dropped (as on a phone line), text messages
  (`inject_user_message`, `update_prompt`, …) are held and sent once the stream is back,
  and `keep_alive`/`send_tool_result` are dropped (the server fails a call whose client
  disconnected).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Self

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from parley.audio.codecs import ENCODINGS, SAMPLE_RATES, Codec, CodecError, make_codec
from parley.client._connect import open_stream
from parley.client._http import ClientConfig
from parley.client._hub import EventHub
from parley.client.audio import AudioBuffer
from parley.client.errors import STREAM_CLOSED, ParleyError
from parley.client.events import (
    Audio,
    Close,
    Disconnected,
    ErrorEvent,
    Event,
    Reconnected,
    SessionEnded,
    SessionStarted,
    ToolCall,
    Transcript,
    TurnEnd,
    parse_event,
)
from parley.client.resume import BACKOFF_BASE_S, BACKOFF_CAP_S, TurnFilter, backoff_delay
from parley.client.tools import ToolFunction, ToolRegistry, run_tool

log = logging.getLogger("parley.client")

BaselineFn = Callable[[], Awaitable[str | None]]
CLIENT_CLOSED = "closed by the client"


@dataclass(frozen=True)
class StreamOptions:
    """How to stream; see `conversations.stream` for the meaning of each field."""

    sample_rate: int = 16000
    encoding: str = "pcm16"
    vad_threshold: float = 0.5
    reconnect: bool = True
    max_reconnect_attempts: int = 10
    backoff_base: float = BACKOFF_BASE_S
    backoff_cap: float = BACKOFF_CAP_S
    last_turn_id: str | None = None
    keep_audio: bool = True

    def __post_init__(self) -> None:
        if self.sample_rate not in SAMPLE_RATES:
            raise ValueError(f"sample_rate must be one of {list(SAMPLE_RATES)}")
        if self.encoding not in ENCODINGS:
            raise ValueError(f"encoding must be one of {list(ENCODINGS)}")
        if not 0.0 <= self.vad_threshold <= 1.0:
            raise ValueError("vad_threshold must be between 0.0 and 1.0")
        if self.max_reconnect_attempts < 0:
            raise ValueError("max_reconnect_attempts must be >= 0")


class StreamLink:
    """The connection side of `AsyncStream`: connecting, reading, reconnecting, closing."""

    def __init__(
        self,
        config: ClientConfig,
        session_id: str,
        options: StreamOptions | None = None,
        baseline: BaselineFn | None = None,
    ) -> None:
        self.session_id = session_id
        self.options = options or StreamOptions()
        self.sample_rate = self.options.sample_rate
        self.encoding = self.options.encoding
        self._config = config
        self._baseline_fn = baseline
        self._hub = EventHub()
        self._tools = ToolRegistry()
        self._filter = TurnFilter(self.options.last_turn_id)
        self._audio = AudioBuffer(self.sample_rate)
        self._codec: Codec = make_codec(self.encoding, self.sample_rate)
        self._ws: ClientConnection | None = None
        self._state = "new"
        self._closing = False
        self._session_ended: str | None = None
        self._runner: asyncio.Task[None] | None = None
        self._connect_lock = asyncio.Lock()
        self._outbox: list[str] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._iterating = False
        self.connection_attempts = 0  # sockets opened or tried, for diagnostics

    # --- connecting --------------------------------------------------------------------

    async def connect(self) -> Self:
        """Open the stream (once `session_started` arrived and its handlers ran). Raises
        `ParleyError` if the server refuses it (404 unknown, 410 ended, 401 key…)."""
        async with self._connect_lock:
            if self._state != "new":
                if self._state == "closed":
                    raise self._closed_error()
                return self
            self._state = "connecting"
            try:
                baseline = self.options.last_turn_id
                if baseline is None and self._baseline_fn is not None:
                    baseline = await self._baseline_fn()
                self._filter = TurnFilter(baseline)
                ws, early = await self._open()
                if self._closing:
                    await ws.close()
                    raise self._closed_error()
            except BaseException as exc:
                error = exc if isinstance(exc, ParleyError) else None
                reason = error.message if error is not None else repr(exc)
                code = error.close_code if error is not None else None
                await self._finish(Close(code=code, reason=reason, error=error))
                raise
            self._ws, self._state = ws, "open"  # handlers of the early events may send
            await self._deliver_early(early, None)
            if self._state != "closed":  # unless one of them closed the stream
                self._runner = asyncio.create_task(self._run(ws), name=f"parley-{self.session_id}")
        return self

    async def _open(self) -> tuple[ClientConnection, list[dict[str, Any]]]:
        self.connection_attempts += 1
        params = {
            "sample_rate": self.sample_rate,
            "encoding": self.encoding,
            "vad_threshold": self.options.vad_threshold,
            "last_turn_id": self._filter.resume_from,
        }
        url = self._config.stream_url(self.session_id, params)
        headers = {k: v for k, v in self._config.headers().items() if k != "User-Agent"}
        return await open_stream(url, headers, self._config.timeout)

    async def _ensure_open(self) -> None:
        if self._state in ("new", "connecting"):
            await self.connect()  # or wait for the connection in progress
        if self._state == "closed":
            raise self._closed_error()

    def _closed_error(self) -> ParleyError:
        final = self._hub.final
        if final is None:
            return ParleyError(None, STREAM_CLOSED, "the stream is closed")
        return ParleyError(
            None,
            STREAM_CLOSED,
            f"the stream is closed ({final.code} {final.reason})",
            close_code=final.code,
        )

    # --- the connection loop -----------------------------------------------------------

    async def _run(self, ws: ClientConnection) -> None:
        try:
            while True:
                if self._state == "closed":  # closed by a handler while reconnecting
                    with contextlib.suppress(Exception):
                        await ws.close(1000, CLIENT_CLOSED)
                    return
                await self._attach(ws)
                code, reason = await self._read(ws)
                self._ws = None
                if self._closing:
                    await self._finish(Close(code=1000, reason=CLIENT_CLOSED))
                    return
                if self._session_ended is not None:
                    why = reason or f"session ended: {self._session_ended}"
                    await self._finish(Close(code=code, reason=why))
                    return
                error = ParleyError(
                    None,
                    STREAM_CLOSED,
                    f"the server closed the stream: {reason or 'no reason given'}",
                    close_code=code,
                )
                if code == 1000 or not (self.options.reconnect and error.retryable):
                    await self._finish(
                        Close(code=code, reason=reason, error=None if code == 1000 else error)
                    )
                    return
                self._state = "reconnecting"
                await self._hub.emit(Disconnected(code=code, reason=reason))
                again = await self._reconnect(code, reason)
                if again is None:
                    return
                ws = again
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug here must still end the stream visibly
            log.exception("stream %s failed", self.session_id)
            error = ParleyError(None, STREAM_CLOSED, f"internal error: {exc!r}")
            await self._finish(Close(code=None, reason=error.message, error=error))

    async def _attach(self, ws: ClientConnection) -> None:
        """Send what was held while disconnected, then let senders use `ws`."""
        while self._outbox:
            text = self._outbox[0]
            try:
                await ws.send(text)
            except ConnectionClosed:
                break
            self._outbox.pop(0)
        self._ws = ws
        self._state = "open"

    async def _read(self, ws: ClientConnection) -> tuple[int | None, str]:
        try:
            async for message in ws:
                if isinstance(message, bytes):
                    await self._on_audio(message)
                else:
                    await self._on_text(message)
        except ConnectionClosed:
            pass
        except OSError:
            with contextlib.suppress(Exception):
                await ws.close()
        return ws.close_code, ws.close_reason or ""

    async def _reconnect(self, code: int | None, reason: str) -> ClientConnection | None:
        loop = asyncio.get_running_loop()
        down_since = loop.time()
        last: ParleyError | None = None
        attempts = 0
        for attempt in range(self.options.max_reconnect_attempts):
            await asyncio.sleep(
                backoff_delay(attempt, self.options.backoff_base, self.options.backoff_cap)
            )
            attempts = attempt + 1
            resume = self._filter.resume_from
            try:
                ws, early = await self._open()
            except ParleyError as exc:
                last = exc
                log.info("stream %s: reconnection %d failed: %s", self.session_id, attempts, exc)
                if not exc.retryable:
                    break
                continue
            self._codec = make_codec(self.encoding, self.sample_rate)  # fresh codec state
            back = Reconnected(
                session_id=self.session_id,
                attempts=attempts,
                last_turn_id=resume,
                downtime_s=loop.time() - down_since,
            )
            await self._deliver_early(early, back)
            return ws
        if last is not None and not last.retryable:
            error = last
        else:
            error = ParleyError(
                None,
                STREAM_CLOSED,
                f"gave up reconnecting after {attempts} attempt(s); last: {last or reason}",
                close_code=code,
            )
        await self._hub.emit(
            ErrorEvent(
                code="reconnect_failed", message=str(error), client_side=True, exception=error
            )
        )
        await self._finish(Close(code=error.close_code or code, reason=error.message, error=error))
        return None

    async def _deliver_early(self, early: list[dict[str, Any]], back: Reconnected | None) -> None:
        for data in early:
            event = parse_event(data)
            if isinstance(event, SessionStarted) and back is not None:
                await self._hub.emit(back)  # session_started is delivered once per stream
            else:
                await self._dispatch(event)

    async def _finish(self, close: Close) -> None:
        if self._state == "closed":
            return
        self._state = "closed"
        self._ws = None
        self._outbox.clear()
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
        await self._hub.emit(close)

    # --- receiving ---------------------------------------------------------------------

    async def _on_text(self, text: str) -> None:
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            await self._client_error("invalid_message", f"not a JSON event: {text[:200]!r}")
            return
        await self._dispatch(parse_event(data))

    async def _dispatch(self, event: Event) -> None:
        if isinstance(event, TurnEnd | Transcript):
            final = isinstance(event, TurnEnd) or event.is_final
            if final and not self._filter.admit(event.type, event.turn_id):
                log.debug("stream %s: dropped a duplicate %r", self.session_id, event)
                return
        if isinstance(event, SessionEnded):
            self._session_ended = event.reason
        if isinstance(event, ToolCall):
            self._answer_tool(event)
        await self._hub.emit(event)

    async def _on_audio(self, data: bytes) -> None:
        try:
            samples = self._codec.decode(data)
        except CodecError as exc:
            await self._client_error("invalid_audio", f"undecodable audio from the server: {exc}")
            return
        if self.options.keep_audio:
            self._audio.append(samples)
        await self._hub.emit(Audio(data=data, samples=samples, sample_rate=self.sample_rate))

    async def _client_error(
        self, code: str, message: str, exc: BaseException | None = None
    ) -> None:
        await self._hub.emit(
            ErrorEvent(code=code, message=message, client_side=True, exception=exc)
        )

    # --- tools -------------------------------------------------------------------------

    def _answer_tool(self, call: ToolCall) -> None:
        fn = self._tools.get(call.name)
        if fn is None:
            if self._hub.has_handler("tool_call") or self._iterating:
                return  # the application answers it
            why = f"no function for the tool {call.name!r} is registered in the client"
            self._spawn(self._quiet_tool_result(call.call_id, None, why))
            return
        self._spawn(self._run_tool(fn, call))

    async def _run_tool(self, fn: ToolFunction, call: ToolCall) -> None:
        result, error, exc = await run_tool(fn, call)
        if error is not None:
            await self._client_error(
                "tool_error", f"tool {call.name!r} (call {call.call_id}) failed: {error}", exc
            )
        await self._quiet_tool_result(call.call_id, result, error)

    async def _quiet_tool_result(self, call_id: str, result: Any, error: str | None) -> None:
        with contextlib.suppress(ParleyError):
            await self._send_tool_result(call_id, result, error)

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send_control(self, message: dict[str, Any], hold: bool = True) -> None:
        await self._ensure_open()
        text = json.dumps(message)
        ws = self._ws
        if ws is None:
            if hold:
                self._outbox.append(text)
            return
        try:
            await ws.send(text)
        except ConnectionClosed:
            if hold and self.options.reconnect:
                self._outbox.append(text)

    async def _send_binary(self, messages: list[bytes]) -> None:
        ws = self._ws
        if ws is None:
            return  # reconnecting: live audio is dropped
        with contextlib.suppress(ConnectionClosed):
            for message in messages:
                await ws.send(message)

    async def _send_tool_result(self, call_id: str, result: Any, error: str | None) -> None:
        message: dict[str, Any] = {"type": "tool_result", "call_id": call_id}
        if error is not None:
            message["error"] = str(error)
        else:
            message["result"] = result
        await self._send_control(message, hold=False)

    # --- closing -----------------------------------------------------------------------

    async def close(self) -> None:
        """Close the stream (no reconnection follows); the `close` event is the last."""
        if self._state == "closed":
            return
        self._closing = True
        ws, runner = self._ws, self._runner
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close(1000, CLIENT_CLOSED)
        if runner is not None and runner is not asyncio.current_task():
            if ws is None:
                runner.cancel()  # waiting to reconnect: stop now
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await runner
        await self._finish(Close(code=1000, reason=CLIENT_CLOSED))
