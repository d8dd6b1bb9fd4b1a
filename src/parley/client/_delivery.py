"""What the stream receives, turned into events delivered exactly once.

JSON messages become typed events (`parley.client.events`), binary ones `Audio` (decoded,
and kept in the stream's `AudioBuffer` unless `keep_audio=False`). Each turn's final
`transcript` and `turn_end` pass `resume.TurnFilter`, so a turn the server replays after a
reconnection is not delivered twice. On a reconnection the new connection's
`session_started` is shown as `reconnected` (`session_started` comes once per stream).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from parley.audio.codecs import CodecError
from parley.client._hub import EventHub
from parley.client.audio import AudioBuffer
from parley.client.events import (
    Audio,
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
from parley.client.resume import TurnFilter

log = logging.getLogger("parley.client")


class Delivery:
    def __init__(
        self,
        session_id: str,
        sample_rate: int,
        keep_audio: bool,
        on_tool_call: Callable[[ToolCall], None],
    ) -> None:
        self.session_id = session_id
        self.sample_rate = sample_rate
        self.hub = EventHub()
        self.turns = TurnFilter(None)
        self.audio = AudioBuffer(sample_rate)
        self.session_ended: str | None = None  # the reason, once `session_ended` came
        self._keep_audio = keep_audio
        self._on_tool_call = on_tool_call

    def start_from(self, last_turn_id: str | None) -> None:
        """Deliver only the turns after `last_turn_id` (None: every turn)."""
        self.turns = TurnFilter(last_turn_id)

    async def early(self, early: list[dict[str, Any]], back: Reconnected | None) -> None:
        """The events that came with a connection's handshake (`session_started`, …);
        `back` stands for `session_started` on a reconnection."""
        for data in early:
            event = parse_event(data)
            if isinstance(event, SessionStarted) and back is not None:
                await self.hub.emit(back)
            else:
                await self.dispatch(event)

    async def text(self, text: str) -> None:
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            await self.client_error("invalid_message", f"not a JSON event: {text[:200]!r}")
            return
        await self.dispatch(parse_event(data))

    async def dispatch(self, event: Event) -> None:
        if isinstance(event, TurnEnd | Transcript):
            final = isinstance(event, TurnEnd) or event.is_final
            if final and not self.turns.admit(event.type, event.turn_id):
                log.debug("stream %s: dropped a duplicate %r", self.session_id, event)
                return
        if isinstance(event, SessionEnded):
            self.session_ended = event.reason
        if isinstance(event, ToolCall):
            self._on_tool_call(event)
        await self.hub.emit(event)

    async def audio_in(self, data: bytes, decode: Callable[[bytes], np.ndarray]) -> None:
        try:
            samples = decode(data)
        except CodecError as exc:
            await self.client_error("invalid_audio", f"undecodable audio from the server: {exc}")
            return
        if self._keep_audio:
            self.audio.append(samples)
        await self.hub.emit(Audio(data=data, samples=samples, sample_rate=self.sample_rate))

    async def client_error(self, code: str, message: str, exc: BaseException | None = None) -> None:
        await self.hub.emit(ErrorEvent(code=code, message=message, client_side=True, exception=exc))
