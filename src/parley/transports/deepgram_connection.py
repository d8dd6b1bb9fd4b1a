"""The engine's `Sink` for one Deepgram agent socket: engine events as Deepgram messages
(`deepgram_events.py`), reply audio as binary messages in the `Settings.audio.output`
format, and a paused reply sent again from the paused position on resume
(`held_audio.py`)."""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
from fastapi import WebSocket

from parley.audio.wire import WireAudio
from parley.engine import events as ev
from parley.transports.deepgram_events import DeepgramEvents, error
from parley.transports.deepgram_settings import AgentSetup
from parley.transports.held_audio import HeldReply
from parley.transports.native import Connection, close_for
from parley.transports.params import StreamParams


class AgentConnection(Connection):
    """The engine's `Sink` for one agent socket: Deepgram messages, audio in its formats."""

    def __init__(self, websocket: WebSocket) -> None:
        super().__init__(websocket, StreamParams())
        self.events = DeepgramEvents(send_history=True)
        self.wire_out: WireAudio | None = None
        self.last_heard = time.monotonic()
        self.audio_done = False  # the current reply's audio is all out (it is finishing)
        self.held = HeldReply()  # a paused reply's audio, sent again on resume

    def configure(self, setup: AgentSetup) -> None:
        self.wire = WireAudio(*setup.input_format)
        self.wire_out = WireAudio(*setup.output_format)
        self.events.send_history = setup.send_history

    def send(self, message: dict[str, Any]) -> None:
        self._put(json.dumps(message))

    async def event(self, event: ev.Event) -> None:
        if isinstance(event, ev.TurnStart) and event.role == "assistant":
            self.audio_done = False
        for message in self.events.map(event):
            self.send(message)
        if isinstance(event, ev.ReplyPaused) and self.wire_out is not None:
            self.held.pause(event.played_ms)  # the client flushes at UserStartedSpeaking
            self.wire_out.end(cut=True)
        elif isinstance(event, ev.ReplyResumed):
            await self.audio(np.zeros(0, np.int16), 0)
        if isinstance(event, ev.SessionEnded):
            await self.close(*close_for(event.reason))

    async def audio(self, samples: np.ndarray, sample_rate: int) -> None:
        if self.wire_out is None:
            return
        if (resend := self.held.take_resend()) is not None:  # resumed: what was flushed
            for message in self.wire_out.encode(*resend):
                self._put(message)
        if len(samples):
            self.held.add(samples, sample_rate)
            for message in self.wire_out.encode(samples, sample_rate):
                self._put(message)

    async def audio_end(self, cut: bool) -> None:
        self.held.end()
        if self.wire_out is None:
            return
        for message in self.wire_out.end(cut):
            self._put(message)
        if not cut:
            self.send({"type": "AgentAudioDone"})
            self.audio_done = True

    def _error_message(self, code: str, message: str) -> None:
        self.send(error(code, message))
