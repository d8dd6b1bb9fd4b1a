"""The connection lifecycle under `AsyncStream`, resilient to dropped connections.

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
- While reconnecting, microphone audio is dropped and text messages are held
  (`_outbox.Outbox`).

What a connection receives is delivered by `_delivery.Delivery` (exactly once per turn);
tool calls are answered by `_tool_answers.ToolAnswers`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Self

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from parley.audio.codecs import ENCODINGS, SAMPLE_RATES
from parley.client._connect import open_stream
from parley.client._delivery import Delivery
from parley.client._http import ClientConfig
from parley.client._outbox import Outbox
from parley.client._tool_answers import ToolAnswers
from parley.client.errors import STREAM_CLOSED, ParleyError
from parley.client.events import Close, Disconnected, ErrorEvent, Reconnected, ToolCall
from parley.client.resume import BACKOFF_BASE_S, BACKOFF_CAP_S, backoff_delay

log = logging.getLogger("parley.client")

BaselineFn = Callable[[], Awaitable[str | None]]
CLIENT_CLOSED = "closed by the client"


def ended_error(code: int | None, message: str) -> ParleyError | None:
    """What the `close` event of a stream whose session ended carries as `error`: None for
    an ordinary end (1000), else why (4000: ended through the API)."""
    if code == 1000:
        return None
    return ParleyError(
        None, STREAM_CLOSED, f"the server closed the stream: {message}", close_code=code
    )


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
    raise_on_error: bool = True  # wait_for and iteration raise on a server `error` event

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
    """Connecting, reading, reconnecting, closing. `delivery` (events, turns, received
    audio), `outbox` (sending) and `tools` (automatic answers) are its parts."""

    def __init__(
        self,
        config: ClientConfig,
        session_id: str,
        options: StreamOptions | None = None,
        baseline: BaselineFn | None = None,
    ) -> None:
        self.session_id = session_id
        self.options = options or StreamOptions()
        self._config = config
        self._baseline_fn = baseline
        opts = self.options
        self.outbox = Outbox(opts.encoding, opts.sample_rate, hold_on_drop=opts.reconnect)
        self.delivery = Delivery(session_id, opts.sample_rate, opts.keep_audio, self._on_tool)
        self.delivery.start_from(opts.last_turn_id)
        self.tools = ToolAnswers(self.delivery.hub, self.send_tool_result)
        self._state = "new"
        self._closing = False
        self._runner: asyncio.Task[None] | None = None
        self._connect_lock = asyncio.Lock()
        self.connection_attempts = 0  # sockets opened or tried, for diagnostics
        # A socket a stream token opened hands out the next connection's token (single
        # use: the one that opened it is spent); the API key needs none.
        self._resume_token: str | None = None

    @property
    def state(self) -> str:
        """`new`, `connecting`, `open`, `reconnecting` or `closed`."""
        return self._state

    def _on_tool(self, call: ToolCall) -> None:
        self.tools.answer(call)

    # --- connecting --------------------------------------------------------------------

    async def connect(self) -> Self:
        """Open the stream (once `session_started` arrived and its handlers ran). Raises
        `ParleyError` if the server refuses it (404 unknown, 410 ended, 401 key…)."""
        async with self._connect_lock:
            if self._state != "new":
                if self._state == "closed":
                    raise self.closed_error()
                return self
            self._state = "connecting"
            try:
                baseline = self.options.last_turn_id
                if baseline is None and self._baseline_fn is not None:
                    baseline = await self._baseline_fn()
                self.delivery.start_from(baseline)
                ws, early = await self._open()
                if self._closing:
                    await ws.close()
                    raise self.closed_error()
            except BaseException as exc:
                error = exc if isinstance(exc, ParleyError) else None
                reason = error.message if error is not None else repr(exc)
                code = error.close_code if error is not None else None
                await self._finish(Close(code=code, reason=reason, error=error))
                raise
            self.outbox.ws, self._state = ws, "open"  # handlers of the early events may send
            await self.delivery.early(early, None)
            if self._state != "closed":  # unless one of them closed the stream
                self._runner = asyncio.create_task(self._run(ws), name=f"parley-{self.session_id}")
        return self

    async def _open(self) -> tuple[ClientConnection, list[dict[str, Any]]]:
        self.connection_attempts += 1
        params = {
            "sample_rate": self.options.sample_rate,
            "encoding": self.options.encoding,
            "vad_threshold": self.options.vad_threshold,
            "last_turn_id": self.delivery.turns.resume_from,
        }
        url = self._config.stream_url(self.session_id, params)
        headers = {k: v for k, v in self._config.headers().items() if k != "User-Agent"}
        if self._resume_token is not None:
            headers["Authorization"] = f"Bearer {self._resume_token}"
        ws, early = await open_stream(url, headers, self._config.timeout)
        started = next((e for e in early if e.get("type") == "session_started"), {})
        self._resume_token = started.get("resume_token") or self._resume_token
        return ws, early

    async def ensure_open(self) -> None:
        """Connect if not yet (or wait for the connection in progress); `ParleyError`
        once the stream is closed."""
        if self._state in ("new", "connecting"):
            await self.connect()
        if self._state == "closed":
            raise self.closed_error()

    def closed_error(self) -> ParleyError:
        """What a use of the closed stream raises (with the close code and reason)."""
        final = self.delivery.hub.final
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
                await self.outbox.attach(ws)
                self._state = "open"
                code, reason = await self._read(ws)
                self.outbox.detach()
                if self._closing:
                    await self._finish(Close(code=1000, reason=CLIENT_CLOSED))
                    return
                if self.delivery.session_ended is not None:
                    why = reason or f"session ended: {self.delivery.session_ended}"
                    # ended through the API (4000: deleted, its agent changed) is an error
                    await self._finish(Close(code=code, reason=why, error=ended_error(code, why)))
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
                await self.delivery.hub.emit(Disconnected(code=code, reason=reason))
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

    async def _read(self, ws: ClientConnection) -> tuple[int | None, str]:
        try:
            async for message in ws:
                if isinstance(message, bytes):
                    await self.delivery.audio_in(message, self.outbox.decode)
                else:
                    await self.delivery.text(message)
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
            resume = self.delivery.turns.resume_from
            try:
                ws, early = await self._open()
            except ParleyError as exc:
                last = exc
                log.info("stream %s: reconnection %d failed: %s", self.session_id, attempts, exc)
                if not exc.retryable:
                    break
                continue
            self.outbox.new_connection()
            back = Reconnected(
                session_id=self.session_id,
                attempts=attempts,
                last_turn_id=resume,
                downtime_s=loop.time() - down_since,
            )
            await self.delivery.early(early, back)
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
        await self.delivery.hub.emit(
            ErrorEvent(
                code="reconnect_failed", message=str(error), client_side=True, exception=error
            )
        )
        await self._finish(Close(code=error.close_code or code, reason=error.message, error=error))
        return None

    async def _finish(self, close: Close) -> None:
        if self._state == "closed":
            return
        self._state = "closed"
        self.outbox.clear()
        self.tools.cancel()
        await self.delivery.hub.emit(close)

    # --- sending -----------------------------------------------------------------------

    async def send_control(self, message: dict[str, Any], hold: bool = True) -> None:
        """Send a JSON message (connecting first if needed); see `Outbox.send_control`."""
        await self.ensure_open()
        await self.outbox.send_control(message, hold)

    async def send_tool_result(self, call_id: str, result: Any, error: str | None) -> None:
        message: dict[str, Any] = {"type": "tool_result", "call_id": call_id}
        if error is not None:
            message["error"] = str(error)
        else:
            message["result"] = result
        await self.send_control(message, hold=False)

    # --- closing -----------------------------------------------------------------------

    async def close(self) -> None:
        """Close the stream (no reconnection follows); the `close` event is the last."""
        if self._state == "closed":
            return
        self._closing = True
        ws, runner = self.outbox.ws, self._runner
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close(1000, CLIENT_CLOSED)
        if runner is not None and runner is not asyncio.current_task():
            if ws is None:
                runner.cancel()  # waiting to reconnect: stop now
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await runner
        await self._finish(Close(code=1000, reason=CLIENT_CLOSED))
