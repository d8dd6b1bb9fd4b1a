"""A paused reply, for protocols whose clients cannot hold playback.

The engine pauses a reply when a voice starts over it (`ReplyPaused`) and either cuts it
or resumes it (`ReplyResumed`) from where it was held. The native stream tells its client
to hold its buffer. Deepgram's and OpenAI's clients know only one thing to do when the
user starts speaking: drop buffered playback. So these transports tell them the user
started speaking at the pause (the client flushes: it stops where the engine says the
listener is), and on resume send again the reply's audio from that position — what the
client flushed — before the live audio goes on. The listener hears the reply stop at the
pause and go on from the same word.

`HeldReply` keeps the tail of the current reply's audio (engine side, at the TTS's rate)
so it can be sent again. The engine stops sending audio while a reply is paused, so the
first audio after a pause means it was resumed, even if `ReplyResumed` is still on its
way: `take_resend()` gives the audio to send again once, whichever comes first.
"""

from __future__ import annotations

import numpy as np

KEEP_S = 2.0  # far more than the pacer's lead (what a client may hold unplayed)


class HeldReply:
    def __init__(self) -> None:
        self._chunks: list[np.ndarray] = []
        self._rate = 0
        self._start = 0  # the reply-relative index of the first kept sample
        self._end = 0  # samples of this reply sent so far
        self.paused_at_ms: float | None = None  # set between ReplyPaused and the resend

    def add(self, samples: np.ndarray, sample_rate: int) -> None:
        """Reply audio the transport sends (call before sending it)."""
        if sample_rate != self._rate:  # a voice at another rate: position in its samples
            self._chunks, self._rate = [], sample_rate
            self._start = self._end = 0
        self._chunks.append(samples)
        self._end += len(samples)
        while self._chunks and self._end - self._start - len(self._chunks[0]) > KEEP_S * (
            sample_rate
        ):
            self._start += len(self._chunks.pop(0))

    def end(self) -> None:
        """The reply's audio is over (played out or cut)."""
        self._chunks, self._start, self._end = [], 0, 0
        self.paused_at_ms = None

    def pause(self, played_ms: float) -> None:
        self.paused_at_ms = played_ms

    def take_resend(self) -> tuple[np.ndarray, int] | None:
        """After a pause, once: the audio from the paused position to what was sent."""
        if self.paused_at_ms is None:
            return None
        played, self.paused_at_ms = self.paused_at_ms, None
        if not self._chunks:
            return None
        kept = np.concatenate(self._chunks)
        offset = max(0, int(played * self._rate / 1000) - self._start)
        tail = kept[offset:]
        return (tail, self._rate) if len(tail) else None
