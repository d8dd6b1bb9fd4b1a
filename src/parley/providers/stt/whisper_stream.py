"""Streaming on top of a batch model: Whisper decodes of the growing utterance.

    feed ... feed ... feed ... (quiet) ........ finish()
         |-- interval --|-- interval --|  ^pause        ^ the last decode covered the
         decode #1      decode #2      decode #3        speech: its text is the final

While the user speaks, the utterance so far is decoded every `interval` seconds (1 s) of new
audio, and at once when the audio goes quiet after speech (a pause: the end of turn is
likely to be decided on it, and the end-of-turn policy reads these words). Each decode
gives the interim transcript. Words on which two successive decodes agree (local
agreement) are kept: later decodes are forced to start with them, so the stable prefix
never changes and each decode only has to find the tail.

A segment of at least `COMMIT_SECONDS` that ends at a pause is committed: its text is
final, and later decodes take only the audio after it (with its text as context), so a
long turn with pauses costs no more per decode than a short one.

At `finish()`, if the audio after the last (pause) decode is quiet, that decode is the
final transcript (no work left); otherwise the whole utterance is decoded once more, as a
final job that goes before every interim job in the pool. Decodes at a pause and at
`finish()` use a beam of 3 (`whisper_decode.py`: half the word errors of greedy ones);
the regular interim ones are greedy.

Back-pressure: a stream has at most one decode queued or running; when the pool has a
backlog, the interval stretches (by the backlog per thread), so under load interim
transcripts come less often while finals keep their place at the front of the queue.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

import numpy as np

from parley.providers.stt.base import (
    SAMPLE_RATE,
    PartialCallback,
    STTError,
    Transcript,
    check_samples,
)
from parley.providers.stt.whisper_decode import FINAL, INTERIM, Decoded, DecodePool, norm_word

log = logging.getLogger(__name__)

_FRAME = SAMPLE_RATE // 50  # 20 ms, for the loudness track
_QUIET_FRAMES = 6  # 120 ms of quiet after speech is a pause
_QUIET_RATIO = 0.12  # a frame this far below the utterance's loud frames is quiet
_FLOOR_RMS = 120.0  # ... or below this, whatever the utterance
_SPEECH_RMS = 300.0  # a frame at least this loud can be speech
COMMIT_SECONDS = 4.0  # a segment at least this long is committed at a pause
_PREVIOUS_CHARS = 200  # of committed text, given to the next segment's decodes as context


class Decoding(Protocol):
    @property
    def pool(self) -> DecodePool: ...

    @property
    def interval(self) -> float: ...

    def decode(
        self,
        samples: np.ndarray,
        language: str | None,
        prefix: str = "",
        final: bool = False,
        previous: str = "",
    ) -> Decoded: ...


def agreed_prefix(a: list[str], b: list[str]) -> int:
    """How many leading words two hypotheses share (compared without case/punctuation)."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if norm_word(x) != norm_word(y) or not norm_word(x):
            break
        n += 1
    return n


class WhisperStream:
    """One conversation's recogniser. Use `WhisperSTT.open()`."""

    interim = True

    def __init__(
        self, decoding: Decoding, language: str | None, on_partial: PartialCallback | None
    ) -> None:
        self._d = decoding
        self.language = language
        self._on_partial_cb = on_partial
        self._loop = asyncio.get_running_loop()
        self._closed = False
        self._reset()

    def _reset(self) -> None:
        self._chunks: list[np.ndarray] = []
        self._samples = 0
        self._rms: list[float] = []  # one per 20 ms frame
        self._rest = np.zeros(0, dtype=np.int16)  # samples short of a frame
        self._loud = 0.0  # a loud frame of this utterance (its 90th-percentile-ish level)
        self._quiet_run = 0
        self._voiced_at = 0  # samples fed when the last speech-like frame ended
        self._requested = 0  # samples covered by the last decode asked for
        self._in_flight: asyncio.Future[Decoded] | None = None
        self._pause_at: int | None = None  # where a pause not decoded yet was heard
        self._last: Decoded | None = None  # the newest decode of the current segment
        self._last_end = 0  # the sample (from the utterance's start) it decoded up to
        self._agreed: list[str] = []  # words kept by local agreement
        # Segments already decoded for good: their text, and where the current one starts.
        self._committed: list[str] = []
        self._base = 0
        self._partial = ""
        self._generation = getattr(self, "_generation", 0) + 1

    # -- the STTStream interface

    def feed(self, samples: np.ndarray) -> None:
        if self._closed:
            raise STTError("stt_closed", "feed() on a closed stream")
        pcm = check_samples(samples)
        if pcm.size == 0:
            return
        pcm = pcm.copy()
        self._chunks.append(pcm)
        self._samples += pcm.size
        if self._track_loudness(pcm):
            self._pause_at = self._samples
        self._maybe_decode()

    def _maybe_decode(self) -> None:
        if self._in_flight is not None:
            return  # one decode at a time
        last = self._last
        if self._pause_at is not None:
            # The audio up to the pause (even if the user went on since): its decode may
            # well be the final one, and a long segment can be committed there.
            upto, self._pause_at = self._pause_at, None
            if upto > self._base and (last is None or not last.final or upto > self._last_end):
                self._request(INTERIM, final=True, upto=upto)
                return
        if self._voiced_at <= self._requested:
            return  # nothing voiced since the last decode
        if (self._samples - self._requested) / SAMPLE_RATE >= self._interval():
            self._request(INTERIM)

    def partial(self) -> str:
        return self._partial

    @property
    def caught_up(self) -> bool:
        """Whether `partial()` covers all the speech fed: no decode of it is pending
        (end of turn reads the words only then, or after its normal wait)."""
        idle = self._in_flight is None and self._pause_at is None
        return idle and self._voiced_at <= self._last_end

    async def finish(self) -> str:
        if self._closed:
            raise STTError("stt_closed", "finish() on a closed stream")
        try:
            return await self._final()
        finally:
            self._reset()

    async def cancel(self) -> None:
        self._reset()

    async def close(self) -> None:
        self._closed = True
        self._reset()

    # -- internals

    def _interval(self) -> float:
        backlog = self._d.pool.backlog()
        return self._d.interval * (1 + backlog / self._d.pool.threads)

    def _track_loudness(self, pcm: np.ndarray) -> bool:
        """Update the loudness track; True when this audio completes a pause after speech."""
        data = np.concatenate([self._rest, pcm]) if self._rest.size else pcm
        whole = data.size // _FRAME * _FRAME
        self._rest = data[whole:]
        paused = False
        for frame in data[:whole].reshape(-1, _FRAME):
            rms = float(np.sqrt(np.mean(frame.astype(np.float32) ** 2)))
            self._rms.append(rms)
            if rms > self._loud:
                self._loud = 0.9 * rms + 0.1 * self._loud
            if rms < max(_FLOOR_RMS, _QUIET_RATIO * self._loud):
                self._quiet_run += 1
                paused = paused or self._quiet_run == _QUIET_FRAMES
            else:
                self._quiet_run = 0
                if rms >= _SPEECH_RMS:
                    self._voiced_at = len(self._rms) * _FRAME
        return paused and self._voiced_at > 0

    def _audio(self) -> np.ndarray:
        if len(self._chunks) > 1:
            self._chunks = [np.concatenate(self._chunks)]
        return self._chunks[0] if self._chunks else np.zeros(0, dtype=np.int16)

    def _request(
        self, priority: int, final: bool = False, upto: int | None = None
    ) -> asyncio.Future[Decoded]:
        whole = self._audio()
        start, end = self._base, upto or whole.size
        audio = whole[start:end]
        self._requested = max(self._requested, end)
        prefix = "" if final else " ".join(self._agreed)
        previous = " ".join(self._committed)[-_PREVIOUS_CHARS:]
        cut = upto is not None  # a segment may end at a pause (not mid-word)
        future: asyncio.Future[Decoded] = self._loop.create_future()
        generation = self._generation

        def work() -> None:
            try:
                result: Decoded | BaseException = self._d.decode(
                    audio, self.language, prefix, final, previous
                )
                log.debug(
                    "decode of %.2f s, prefix %r: %r", audio.size / SAMPLE_RATE, prefix, result
                )
            except Exception as exc:  # reported to whoever awaits the decode
                result = exc
            span = (start, end, cut)
            self._loop.call_soon_threadsafe(self._deliver, future, result, generation, span)

        self._in_flight = future
        self._d.pool.submit(priority, work)
        return future

    def _deliver(
        self,
        future: asyncio.Future[Decoded],
        result: Decoded | BaseException,
        generation: int,
        span: tuple[int, int, bool],
    ) -> None:
        if generation == self._generation and self._in_flight is future:
            self._in_flight = None
        if isinstance(result, BaseException):
            if not future.done():
                future.set_exception(
                    STTError("stt_decode_failed", f"whisper: {type(result).__name__}: {result}")
                )
                future.exception()  # retrieved: an interim failure is only logged
            log.warning("whisper decode failed: %r", result)
            return
        if not future.done():
            future.set_result(result)
        if generation != self._generation or self._closed:
            return  # a finished or cancelled utterance
        self._take(result, *span)
        self._maybe_decode()  # a pause that came meanwhile

    def _take(self, result: Decoded, start: int, end: int, cut: bool) -> None:
        if result.rejected or start != self._base:
            return  # a hallucination, or a decode of a segment since committed
        if cut and result.final and (end - start) / SAMPLE_RATE >= COMMIT_SECONDS:
            # A long segment ends at this pause: its words are final, and later decodes
            # start after it (with its text as context), so their cost stays bounded.
            if result.text:
                self._committed.append(result.text)
            self._base, self._last, self._last_end, self._agreed = end, None, end, []
            self._set_partial("")
            return
        words = result.words
        previous = self._last.words if self._last is not None else []
        self._last, self._last_end = result, end
        # keep words two decodes agree on, but not the last of them (it may still grow)
        agreed = agreed_prefix(previous, words)
        if result.final:  # the better decode: its words, all but the last, are the prefix
            self._agreed = words[:-1]
        elif agreed - 1 > len(self._agreed):
            self._agreed = words[: agreed - 1]
        self._set_partial(result.text)

    def _set_partial(self, segment: str) -> None:
        text = " ".join([*self._committed, segment]).strip()
        if text != self._partial:
            self._partial = text
            self._notify(text)

    def _notify(self, text: str) -> None:
        callback: Callable[[Transcript], None] | None = self._on_partial_cb
        if callback is None:
            return
        try:
            callback(Transcript(text))
        except Exception:
            log.exception("on_partial callback failed")

    def _tail_is_quiet(self, covered: int) -> bool:
        """Whether nothing that sounds like speech was fed after sample `covered`."""
        return self._voiced_at <= covered

    async def _final(self) -> str:
        if self._samples == 0 or self._voiced_at == 0:
            return ""
        while self._in_flight is not None:  # it may hold the final words already
            try:
                await self._in_flight
            except STTError:
                break
        last = self._last
        if self._tail_is_quiet(self._base):
            tail = ""  # nothing said since the last committed segment
        elif last is not None and last.final and self._tail_is_quiet(self._last_end):
            tail = last.text
        else:
            result = await self._request(FINAL, final=True)
            tail = " ".join(self._agreed) if result.rejected else result.text
        return " ".join([*self._committed, tail]).strip()
