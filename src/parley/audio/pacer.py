"""Real-time pacing of reply audio (DESIGN principles 3 and 4).

The pacer hands reply audio to a sink (the transport) in chunks, never more than
`lead_ms` ahead of what the listener is hearing, so a barge-in can stop the reply
within `lead_ms`, and it knows how much of the reply the listener has heard.

Timing model. Playback starts when the first chunk of a reply goes out (t0) and
runs at real-time rate; the listener's position is capped by what was sent::

    lead_ms = 200, chunk_ms = 20                    (one ▮ = one 20 ms chunk)

    clock (ms)   0       20    40    60    80   ...
    sink calls   ▮×10    ▮     ▮     ▮     ▮        200 ms at once, then 20 ms per 20 ms
    sent_ms      200     220   240   260   280
    played_ms    0       20    40    60    80       clock - t0, at most sent_ms
    ahead_ms     200     200   200   200   200      sent_ms - played_ms, never > lead_ms

A chunk goes out only once its *end* is at most `lead_ms` ahead of the position.
If the audio source falls behind (TTS slower than real time between sentences),
the listener's buffer runs dry and playback resumes where it stopped when audio
comes again, so `played_ms` stalls instead of running ahead of the audio::

    clock (ms)   0 ─────────── 1000 ·········· 1500 ─────────── 2000
    sent_ms      1000 (all out by 800)         next 1000 ms from 1500 on
    played_ms    0 ──────────▶ 1000   stalled  1000 ──────────▶ 1500

(Without stalls this is exactly played = min(sent, clock - t0).)

`pause()` holds the reply where it is (the listener's player pauses too, told by the
transport): nothing more is sent and `played_ms` stands still until `resume()`, from
which playback goes on where it stopped.

`rewind(ms)` (while paused) moves the listener back to an earlier point of what was
sent (the start of a word the pause cut): the audio from there is sent again before
anything new, so the transport must have told the listener to drop what it held.

`played_ms` keeps growing after the sending task is cancelled: the listener still
plays what it holds until the transport tells it to clear. Read it at the moment
of the barge-in. A chunk counts as sent once the sink returns; one cancelled
inside the sink is not counted (an error of at most one chunk).
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable

import numpy as np

from parley.audio.frames import split_frames
from parley.clock import Clock

Sink = Callable[[np.ndarray], Awaitable[None]]

MAX_LEAD_MS = 300
KEEP_S = 3.0  # audio kept after it is sent, for `rewind` (a word is shorter than this)
_EPSILON = 1e-9  # seconds; float slack when comparing clock readings


class Pacer:
    """Sends one reply at a time to `sink` at real-time rate, `lead_ms` ahead.

    Not safe for two concurrent `send` calls; cancel the task that is sending
    before `reset()` and the next reply.
    """

    def __init__(
        self,
        sink: Sink,
        sample_rate: int,
        clock: Clock,
        *,
        lead_ms: int = 200,
        chunk_ms: int = 20,
    ) -> None:
        if not 0 < chunk_ms <= lead_ms <= MAX_LEAD_MS:
            raise ValueError(
                f"need 0 < chunk_ms <= lead_ms <= {MAX_LEAD_MS}, "
                f"got chunk_ms={chunk_ms}, lead_ms={lead_ms}"
            )
        if sample_rate * chunk_ms % 1000:
            raise ValueError(f"{chunk_ms} ms is not a whole number of samples at {sample_rate} Hz")
        self.sample_rate = sample_rate
        self.lead_ms = lead_ms
        self.chunk_samples = sample_rate * chunk_ms // 1000
        self._sink = sink
        self._clock = clock
        self._lead = lead_ms / 1000
        self._sent = 0  # samples of this reply the sink has taken
        self._t0: float | None = None  # clock time playback of sample 0 began (moved by stalls)
        self._paused_at: float | None = None
        # sent audio (first sample, chunk), the last KEEP_S of it; and what goes out again
        self._kept: collections.deque[tuple[int, np.ndarray]] = collections.deque()
        self._again: collections.deque[np.ndarray] = collections.deque()
        self._running = asyncio.Event()
        self._running.set()

    @property
    def sent_ms(self) -> float:
        """Audio of this reply handed to the sink so far."""
        return self._sent * 1000 / self.sample_rate

    @property
    def played_ms(self) -> float:
        """Audio of this reply the listener has heard by now."""
        return self._position(self._clock.now()) * 1000

    @property
    def ahead_ms(self) -> float:
        """Audio sent but not yet heard: what a barge-in would cut off."""
        return self.sent_ms - self.played_ms

    def pause(self) -> None:
        """Hold the reply: no more audio goes out, and the listener's position stops."""
        if self._paused_at is None:
            self._paused_at = self._clock.now()
            self._running.clear()

    def resume(self) -> None:
        """Go on from where the reply was paused."""
        if self._paused_at is None:
            return
        if self._t0 is not None:
            self._t0 += self._clock.now() - self._paused_at
        self._paused_at = None
        self._running.set()

    def rewind(self, to_ms: float) -> float:
        """While paused: move the listener back to `to_ms` (no earlier than the audio
        kept); what was sent from there goes out again first. Returns the position."""
        if self._paused_at is None or self._t0 is None:
            return self.played_ms
        to = max(int(to_ms * self.sample_rate / 1000), self._kept[0][0] if self._kept else 0)
        position = int(self._position(self._paused_at) * self.sample_rate)
        if to >= position:
            return self.played_ms
        again = [c[max(0, to - start) :] for start, c in self._kept if start + len(c) > to]
        while self._kept and self._kept[-1][0] >= to:
            self._kept.pop()
        if self._kept and (cut := to - self._kept[-1][0]) < len(self._kept[-1][1]):
            self._kept[-1] = (self._kept[-1][0], self._kept[-1][1][:cut])
        self._again.extendleft(reversed(again))
        self._sent = to
        self._t0 = self._paused_at - to / self.sample_rate
        return self.played_ms

    def reset(self) -> None:
        """Start a new reply: nothing sent, nothing played, timing restarts."""
        self._sent = 0
        self._t0 = None
        self._kept.clear()
        self._again.clear()

    async def send(self, samples: np.ndarray) -> None:
        """Send int16 mono `samples` (any length) at real-time pace.

        Returns once the last chunk is handed to the sink, i.e. up to `lead_ms`
        before it has been heard; `drain()` waits for that.
        """
        if samples.ndim != 1 or samples.dtype != np.int16:
            raise ValueError(f"expected 1-D int16 samples, got {samples.dtype} {samples.shape}")
        for chunk in split_frames(samples, self.chunk_samples):
            while True:
                await self._send_again()
                await self._wait_for_room(len(chunk))
                if not self._again:  # (a pause meanwhile may have rewound)
                    break
            await self._emit(chunk)

    async def _emit(self, chunk: np.ndarray) -> None:
        now = self._clock.now()
        await self._sink(chunk)
        self._mark_sent(now, len(chunk))
        self._kept.append((self._sent - len(chunk), chunk))
        keep_from = self._sent - KEEP_S * self.sample_rate
        while self._kept and self._kept[0][0] + len(self._kept[0][1]) < keep_from:
            self._kept.popleft()

    async def _send_again(self) -> None:
        """What a rewind asked to send again goes before anything new."""
        while self._again:
            chunk = self._again[0]
            await self._wait_for_room(len(chunk))
            if self._again and self._again[0] is chunk:  # not rewound meanwhile
                self._again.popleft()
                await self._emit(chunk)

    async def drain(self) -> None:
        """Wait until the listener has heard everything sent."""
        while True:
            await self._running.wait()
            await self._send_again()
            left = self._sent / self.sample_rate - self._position(self._clock.now())
            if left <= _EPSILON:
                return
            # in steps of a chunk: a pause and a rewind meanwhile send audio again
            await self._clock.sleep(min(left, self.chunk_samples / self.sample_rate))

    async def _wait_for_room(self, samples: int) -> None:
        # Never waits when the listener has run dry: then ahead <= chunk <= lead.
        while True:
            await self._running.wait()
            ahead = (self._sent + samples) / self.sample_rate - self._position(self._clock.now())
            if ahead <= self._lead + _EPSILON:
                return
            await self._clock.sleep(ahead - self._lead)

    def _mark_sent(self, now: float, samples: int) -> None:
        sent = self._sent / self.sample_rate
        if self._t0 is None or now - self._t0 > sent:
            self._t0 = now - sent  # first audio, or resuming after the listener ran dry
        self._sent += samples

    def _position(self, now: float) -> float:
        """Seconds of this reply heard at clock time `now`."""
        if self._t0 is None:
            return 0.0
        if self._paused_at is not None:
            now = min(now, self._paused_at)
        return min(max(now - self._t0, 0.0), self._sent / self.sample_rate)
