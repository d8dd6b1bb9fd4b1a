"""What the transport receives from a conversation, with the virtual time it arrived."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from parley.clock import VirtualClock
from parley.engine import events as ev
from parley.store.conversations import ConversationStore
from tests.engine.tracked import Tracker


@dataclass
class Received:
    t: float  # virtual time it arrived
    event: ev.Event | None = None
    samples: int = 0  # audio (event is None)
    sample_rate: int = 0
    audio_end: bool | None = None  # the reply's audio ended: cut (True) or played out


@dataclass
class TurnRow:
    role: str
    text: str
    interrupted: bool


class RecordingSink:
    """A transport that records everything with its virtual arrival time and checks,
    as things arrive, two promises of the engine:

    - durability (principle 9): a `turn_end` (and a final transcript) with a turn id
      arrives only once that turn is in the store;
    - pacing (principle 4): audio is never more than `lead_ms` ahead of what the
      listener has heard. The listener is modelled as a playback buffer that plays in
      real time from the first chunk and runs dry when audio stops coming.
    """

    def __init__(self, clock: VirtualClock, store: ConversationStore, tracker: Tracker) -> None:
        self._clock = clock
        self._store = store
        self._tracker = tracker
        self.conversation_id = ""
        self.log: list[Received] = []
        self.violations: list[str] = []
        self.stored_at_turn_end: dict[str, list[TurnRow]] = {}
        self._buffer_end: float | None = None  # virtual time the listener's buffer runs out
        self.max_ahead_ms = 0.0
        self.sample_rates: set[int] = set()

    async def event(self, event: ev.Event) -> None:
        now = self._clock.now()
        self.log.append(Received(now, event))
        if isinstance(event, ev.Interrupted):
            self._buffer_end = None  # the transport tells the client to drop its buffer
        if isinstance(event, ev.ReplyResumed) and (event.from_ms or 0) < event.played_ms:
            self._buffer_end = None  # ... and here: the cut word comes again
        if not isinstance(event, ev.TurnEnd | ev.TranscriptEvent):
            return
        turn_id = event.turn_id  # None: a discarded user turn, or a non-final transcript
        if turn_id is None:
            return
        with self._tracker.busy("sink"):
            turns = await self._store.turns(self.conversation_id)
        rows = {t.turn_id: t for t in turns}
        if turn_id not in rows or rows[turn_id].role != event.role:
            self.violations.append(f"{event!r} announced before its turn was stored")
        if isinstance(event, ev.TurnEnd):
            self.stored_at_turn_end[turn_id] = [
                TurnRow(t.role, t.text, t.interrupted) for t in turns
            ]

    async def audio(self, samples: np.ndarray, sample_rate: int) -> None:
        now = self._clock.now()
        self.log.append(Received(now, None, int(samples.size), sample_rate))
        self.sample_rates.add(sample_rate)
        start = now if self._buffer_end is None else max(self._buffer_end, now)
        self._buffer_end = start + samples.size / sample_rate
        self.max_ahead_ms = max(self.max_ahead_ms, (self._buffer_end - now) * 1000)

    async def audio_end(self, cut: bool) -> None:
        self.log.append(Received(self._clock.now(), audio_end=cut))

    # --- reading the record -----------------------------------------------------------

    def events(self, kind: type[Any] | None = None, **match: Any) -> list[Any]:
        out = []
        for r in self.log:
            if r.event is None or (kind is not None and not isinstance(r.event, kind)):
                continue
            if all(getattr(r.event, k) == v for k, v in match.items()):
                out.append(r.event)
        return out

    def first(self, kind: type[Any], **match: Any) -> Received | None:
        for r in self.log:
            if isinstance(r.event, kind) and all(
                getattr(r.event, k) == v for k, v in match.items()
            ):
                return r
        return None

    def audio_chunks(self) -> list[Received]:
        return [r for r in self.log if r.event is None and r.audio_end is None]

    def audio_ends(self) -> list[Received]:
        return [r for r in self.log if r.audio_end is not None]
