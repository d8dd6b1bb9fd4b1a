"""Finding a stretch of reply audio again: what a paused reply sent twice."""

from __future__ import annotations

import numpy as np
import pytest

from parley.transports.held_audio import HeldReply
from tests.speech import speak


def found_at_end_ms(before: bytes, chunk: bytes, rate: int = 24000) -> float | None:
    """Where linear16 `chunk` is found in the last second of `before`: how many ms
    before the end of `before` it starts (None: not found)."""
    a = np.frombuffer(before, "<i2")[-rate:].astype(np.float64)
    b = np.frombuffer(chunk, "<i2").astype(np.float64)
    best, where = 0.0, None
    for offset in range(0, len(a) - len(b) + 1, 2):
        window = a[offset : offset + len(b)]
        norm = float(np.linalg.norm(window) * np.linalg.norm(b))
        if norm and (score := float(window @ b) / norm) > best:
            best, where = score, offset
    return None if best < 0.9 or where is None else (len(a) - where) * 1000 / rate


def a_breath_of_voice(ms: int = 64) -> np.ndarray:
    """`ms` of a spoken word's vowel (16 kHz): a voice over the reply that pauses it and
    fades before it is confirmed speech, so the engine resumes the reply without waiting
    on the recogniser (a backchannel's words are judged by STT, slow on a loaded box)."""
    word = speak("Right.")
    vowel = int(np.argmax(np.abs(word) > 1000)) + 16 * 70  # past the consonant
    return word[vowel : vowel + 16 * ms]


def record_pauses(monkeypatch: pytest.MonkeyPatch) -> list[tuple[float, float]]:
    """(paused at, sent by then) in ms, for each reply the server (a thread of this
    process) paused: what the client had buffered and must get again on resume."""
    pauses: list[tuple[float, float]] = []
    pause = HeldReply.pause

    def spy(self: HeldReply, played_ms: float) -> None:
        pauses.append((played_ms, self._end * 1000 / self._rate if self._rate else 0.0))
        pause(self, played_ms)

    monkeypatch.setattr(HeldReply, "pause", spy)
    return pauses


def check_resend(pauses: list[tuple[float, float]], before: bytes, first_after: bytes) -> None:
    """One pause; the first audio after it starts with what the server had sent beyond
    the listener's position at the pause (the client flushed it): 50 ms of it (past the
    fresh resampler's first 10 ms) are found that far before the end of the audio before
    the pause. (A reply paused while its TTS was behind has none: it goes straight on.)"""
    assert len(pauses) == 1, pauses
    played, sent = pauses[0]
    ahead_ms = sent - played
    probe = first_after[480:1680]  # 10-60 ms of linear16 at 24 kHz
    at = found_at_end_ms(before, probe)
    if ahead_ms < 20:  # nothing was buffered at the client
        assert at is None, at
        return
    assert at is not None, f"the {ahead_ms:.0f} ms the client flushed were not sent again"
    # (up to a wire frame, ~40 ms, of it was still in the codec at the pause, never sent)
    assert ahead_ms - 50 < at + 10 < ahead_ms + 15, (at, ahead_ms)
