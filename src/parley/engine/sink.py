"""The line between the engine and a transport (DESIGN: transports never decide turns).

A conversation talks to its transport through a `Sink`: engine events (plain values,
`events.py`), reply audio as mono int16 PCM at the TTS's own rate, and the end of each
reply's audio, so the transport can flush its resampler and codec (a reply that played to
the end) or drop what they hold (a reply cut short). Wire rates, encodings and message
shapes are the transport's business; a new wire protocol needs no engine change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

import numpy as np

from parley.engine import events as ev

log = logging.getLogger("parley.engine")


class Sink(Protocol):
    async def event(self, event: ev.Event) -> None: ...

    async def audio(self, samples: np.ndarray, sample_rate: int) -> None:
        """Reply audio, paced in real time: int16 mono at `sample_rate` Hz."""
        ...

    async def audio_end(self, cut: bool) -> None:
        """The reply's audio is over: played out (`cut=False`) or cut short."""
        ...


class Outlet:
    """The sink a conversation is attached to, if any. What goes to it never raises into
    the engine: a broken connection must not break the conversation."""

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self.sink: Sink | None = None
        # Sees every event, a client attached or not (the server's metrics: metrics.py).
        self.observe: Callable[[ev.Event], None] | None = None

    async def event(self, event: ev.Event) -> None:
        if self.observe is not None:
            try:
                self.observe(event)
            except Exception:
                log.exception("session=%s metrics failed on %r", self.session_id, event)
        if (sink := self.sink) is None:
            return
        try:
            await sink.event(event)
        except Exception:
            log.debug("session=%s event dropped: %r", self.session_id, event, exc_info=True)

    async def audio(self, samples: np.ndarray, sample_rate: int) -> None:
        if (sink := self.sink) is None:
            return
        try:
            await sink.audio(samples, sample_rate)
        except Exception:
            log.debug("session=%s audio dropped", self.session_id, exc_info=True)

    async def audio_end(self, cut: bool) -> None:
        if (sink := self.sink) is None:
            return
        try:
            await sink.audio_end(cut)
        except Exception:
            log.debug("session=%s audio end dropped", self.session_id, exc_info=True)
