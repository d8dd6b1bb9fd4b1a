"""How fast a client may send audio: a token bucket of audio seconds.

Decoding and voice detection run on the event loop, frame by frame (≈0.1 ms each): a
client that sends an hour of audio in a second would hold the loop, and every other
session, for as long as that takes. The bucket refills at `speed` seconds of audio per
second of clock time (1.5: real time, with room for jitter) and holds at most `burst_s`
(10 s: a client catching up after a network stall). Audio beyond it is dropped (after
the wire codec, before voice detection and recognition), and the client is told (`error`
`audio_too_fast`, at most once per `report_every_s`)::

    allowed ─────────── 1.5 s of audio per s ──────────▶
    burst   ████████████ 10 s ───────────────────────── a reconnecting client's backlog
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class AudioBudget:
    speed: float = 1.5
    burst_s: float = 10.0
    report_every_s: float = 5.0
    _tokens: float = field(default=-1.0, repr=False)  # (full at the first take)
    _at: float = field(default=0.0, repr=False)
    _reported: float = field(default=float("-inf"), repr=False)
    dropped_s: float = 0.0  # audio refused so far

    def take(self, seconds: float, now: float) -> bool:
        """May `seconds` of audio arriving at clock time `now` be heard?"""
        if self._tokens < 0:
            self._tokens, self._at = self.burst_s, now
        self._tokens = min(self.burst_s, self._tokens + (now - self._at) * self.speed)
        self._at = now
        if seconds <= self._tokens:
            self._tokens -= seconds
            return True
        self.dropped_s += seconds
        return False

    def report_due(self, now: float) -> bool:
        """A drop just happened and the client has not been told for a while."""
        if now - self._reported < self.report_every_s:
            return False
        self._reported = now
        return True
