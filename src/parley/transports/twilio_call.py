"""One Twilio call on the Media Streams socket: the engine's `Sink` (see `twilio.py`).

Out: reply audio as `media` (base64 μ-law 8 kHz, as the engine paces it), each chunk
followed by a `mark` named `<reply>:<ms>` — the reply's audio sent up to that chunk.
Twilio echoes a mark once the caller has heard the audio before it, so an echoed mark of
the current reply is the played position (`Conversation.heard_until`): history keeps
the words heard by the marks. Barge-in (`Interrupted`) sends `clear`; Twilio then
echoes every mark still pending, which no longer count (the reply number moved on).

Built-in tools (`engine/call_control.py`) are answered here; their action (hang up,
transfer) runs once the reply that asked for it is over and its marks are echoed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
from typing import Any

import numpy as np
from fastapi import WebSocket

from parley.engine import events as ev
from parley.engine.call_control import BUILT_INS, END_CALL, TRANSFER_CALL, CallControl
from parley.engine.conversation import Conversation
from parley.engine.state import State
from parley.transports.native import Connection, close_for
from parley.transports.params import StreamParams
from parley.transports.twilio_rest import TwilioCalls, TwilioRestError

log = logging.getLogger("parley.telephony")

RATE = 8000
DRAIN_TIMEOUT_S = 10.0  # the far end's buffer: at most this long for the last marks
DTMF_PAUSE_S = 1.5  # digits this close together are one keypad turn
MAX_DIGITS = 64  # in one keypad turn
OPEN_TURN = (State.USER_SPEAKING, State.ENDPOINTING, State.PREPARING, State.PAUSED)
TRANSFER_FAILED = "Sorry, I could not transfer your call."


def keypad_text(digits: str) -> str:
    """How DTMF digits reach the model: a typed user turn, e.g. `[keypad: 1 2 3 #]`
    (stored with the digits as data too: the turn's `metadata.dtmf`, e.g. "123#")."""
    return f"[keypad: {' '.join(digits)}]"


class TwilioCall(Connection):
    def __init__(
        self,
        websocket: WebSocket,
        stream_sid: str,
        call_sid: str,
        control: CallControl,
        calls: TwilioCalls | None,
    ) -> None:
        super().__init__(websocket, StreamParams(sample_rate=RATE, encoding="mulaw"))
        self.stream_sid = stream_sid
        self.call_sid = call_sid
        self.control = control
        self.calls = calls
        self.conv: Conversation | None = None
        self.reply_no = 0
        self.reply_ms = 0.0  # audio of the current reply sent, in ms
        self.pending_marks: set[str] = set()
        self._drained = asyncio.Event()
        self._drained.set()
        self._digits = ""
        self._dtmf_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # --- Sink ---------------------------------------------------------------------------

    async def event(self, event: ev.Event) -> None:
        if isinstance(event, ev.Interrupted):
            self._send("clear")
            self._next_reply()
        elif isinstance(event, ev.SessionEnded):
            log.info("call %s: session ended (%s); hanging up", self.call_sid, event.reason)
            await self.close(*close_for(event.reason))
        elif isinstance(event, ev.ToolCallEvent):
            self._tool_call(event)
        elif isinstance(event, ev.TurnEnd) and event.role == "assistant":
            if event.interrupted:
                self.control.take()  # the caller had more to say: the model decides again
            elif self.control.pending is not None:
                self._spawn(self._act(self.control.take()))
        elif isinstance(event, ev.ErrorEvent):
            log.warning("call %s: %s: %s", self.call_sid, event.code, event.message)

    async def audio(self, samples: np.ndarray, sample_rate: int) -> None:
        for payload in self.wire.encode(samples, sample_rate):
            self._media(payload)

    async def audio_end(self, cut: bool) -> None:
        for payload in self.wire.end(cut):
            self._media(payload)
        self._next_reply()

    def _error_message(self, code: str, message: str) -> None:
        """Twilio has no error message: bad input is logged and the call goes on."""
        log.warning("call %s: %s: %s", self.call_sid, code, message)

    # --- out ----------------------------------------------------------------------------

    def _send(self, kind: str, **body: Any) -> None:
        self._put(json.dumps({"event": kind, "streamSid": self.stream_sid, **body}))

    def _media(self, payload: bytes) -> None:
        if not payload:
            return
        self._send("media", media={"payload": base64.b64encode(payload).decode("ascii")})
        self.reply_ms += len(payload) * 1000 / RATE
        name = f"{self.reply_no}:{round(self.reply_ms)}"
        self.pending_marks.add(name)
        self._drained.clear()
        self._send("mark", mark={"name": name})

    def _next_reply(self) -> None:
        self.reply_no += 1
        self.reply_ms = 0.0

    # --- in -----------------------------------------------------------------------------

    def on_mark(self, name: str) -> None:
        """Twilio played the audio before the mark `name`."""
        self.pending_marks.discard(name)
        if not self.pending_marks:
            self._drained.set()
        reply, _, ms = name.partition(":")
        if reply == str(self.reply_no) and ms.isdigit() and self.conv is not None:
            self.conv.heard_until(float(ms))

    def on_dtmf(self, digit: str) -> None:
        if len(self._digits) >= MAX_DIGITS:
            log.warning(
                "call %s: more than %d keypad digits in one turn", self.call_sid, MAX_DIGITS
            )
            return
        self._digits += digit
        if self._dtmf_task is not None:
            self._dtmf_task.cancel()
        self._dtmf_task = self._spawn(self._keypad_turn(0.0 if digit == "#" else DTMF_PAUSE_S))

    async def _keypad_turn(self, wait_s: float) -> None:
        await asyncio.sleep(wait_s)
        conv = self.conv
        if conv is None:
            return
        for _ in range(100):  # the caller is speaking: wait (up to ~30 s) for the floor
            if conv.state not in OPEN_TURN:
                break
            await asyncio.sleep(0.3)
        digits, self._digits = self._digits, ""
        self._dtmf_task = None
        if digits and conv.state is not State.ENDED:
            await conv.inject_user_message(keypad_text(digits), meta={"dtmf": digits})

    # --- call control -------------------------------------------------------------------

    def _tool_call(self, event: ev.ToolCallEvent) -> None:
        if event.name not in BUILT_INS or self.conv is None:
            log.warning("call %s: tool %s has no client on a phone line", self.call_sid, event.name)
            return  # the engine's tool timeout reports it to the model
        decision = self.control.call(event.name)
        self.conv.resolve_tool_result(event.call_id, decision.result, decision.error)

    async def _act(self, action: str | None) -> None:
        conv = self.conv
        if conv is None or action is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._drained.wait(), DRAIN_TIMEOUT_S)
        await conv.idle()
        if action == END_CALL:
            await conv.end("agent_ended_call")
        elif action == TRANSFER_CALL and self.calls is not None and self.control.transfer_to:
            try:
                await self.calls.transfer(self.call_sid, self.control.transfer_to)
            except TwilioRestError as exc:
                log.warning("call %s: transfer failed: %s", self.call_sid, exc)
                await conv.inject_agent_message(TRANSFER_FAILED)
                return
            await conv.end("call_transferred")

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def stop(self) -> None:
        for task in list(self._tasks):
            if task is not asyncio.current_task():
                task.cancel()
        await super().stop()
