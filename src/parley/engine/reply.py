"""One reply's speech: sentences → TTS → pacer → the conversation (DESIGN principles 2-4).

A `Reply` runs inside its reply task; cancelling that task (barge-in) stops it as a unit.
It records which sentence occupies which span of the reply audio, so that after an
interruption `heard_text(played_ms)` gives the words the listener actually heard
(principle 3). Audio leaves at the TTS's own rate (the rate of the reply's first chunk;
a later sentence in another voice is resampled to it): the transport converts it to the
wire's rate and encoding.

    sentence ──▶ TTS ──chunks──▶ pacer (real time, lead_ms ahead) ──▶ ReplyOutput
                                                 first chunk of a sentence: sentence_out
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from parley.audio.pacer import Pacer
from parley.audio.resample import StreamResampler
from parley.clock import Clock
from parley.engine.sentences import SentenceSplitter
from parley.providers.tts.base import TTSProvider


class ReplyOutput(Protocol):
    """Where a reply's speech goes, and the one fact it reports about it."""

    async def audio(self, samples: np.ndarray, sample_rate: int) -> None: ...

    async def sentence_out(self, text_so_far: str, first: bool) -> None:
        """A sentence's first audio is going out now (`first`: the reply's first audio)."""
        ...


class Voices(Protocol):
    def tts_for(self, voice_id: str) -> TTSProvider: ...


@dataclass
class Spoken:
    text: str
    start_ms: float
    end_ms: float
    filler: bool = False  # "One moment." while the LLM is queued: heard, not the answer


@dataclass
class ReplyTimings:
    """Clock readings (seconds) of the reply's milestones, for the latency breakdown."""

    started: float = 0.0  # the first LLM request (llm_ttft_ms counts from it)
    llm_first_token: float | None = None
    tts_first_audio: float | None = None
    first_audio_sent: float | None = None


_WORDS = re.compile(r"\S+")


def _text(spoken: list[Spoken]) -> str:
    """The text of a reply's sentences: the answer without its filler (stored, the next
    LLM prompt must not teach the model to open with "One moment."), or the filler alone
    while nothing else was said (the client was told the turn started: it ends)."""
    return " ".join(s.text for s in ([s for s in spoken if not s.filler] or spoken))


class Reply:
    def __init__(
        self,
        *,
        voices: Voices,
        voice_id: str,
        clock: Clock,
        out: ReplyOutput,
        lead_ms: int = 200,
    ) -> None:
        self.voice_id = voice_id  # the conversation switches it between sentences
        self._voices = voices
        self._clock = clock
        self._out = out
        self._lead_ms = lead_ms
        self.pacer: Pacer | None = None  # made at the first chunk, at its rate
        self.spoken: list[Spoken] = []
        self.timings = ReplyTimings(started=clock.now())
        self._audio_ms = 0.0  # reply audio produced so far (the pacer's timeline)
        self._starting: Spoken | None = None  # the sentence whose first chunk is next out
        self._paused = False  # held before its pacer exists
        self._reported: float | None = None  # the played position the client reported

    @property
    def played_ms(self) -> float:
        """Audio the listener has heard by now: as the client last reported it
        (`heard_until`), else the pacer's estimate."""
        if self._reported is not None:
            return self._reported
        return 0.0 if self.pacer is None else self.pacer.played_ms

    def heard_until(self, played_ms: float) -> None:
        """The client says it has played this far (e.g. Twilio echoing a mark)."""
        self._reported = max(0.0, min(played_ms, self.sent_ms))

    @property
    def sent_ms(self) -> float:
        return 0.0 if self.pacer is None else self.pacer.sent_ms

    def pause(self) -> None:
        """Hold the reply's audio where it is (`resume` goes on from there)."""
        self._paused = True
        if self.pacer is not None:
            self.pacer.pause()

    def resume(self) -> float:
        """Go on from the start of the word the pause cut, if it cut one (its audio is
        sent again: the listener drops what it held); returns where playback goes on."""
        self._paused = False
        if self.pacer is None:
            return 0.0
        held = self.played_ms
        at = self.pacer.rewind(self.word_start(held))
        if self._reported is not None and at < held:
            self._reported = at
        # The audio goes on in the next turn of the loop: the `reply_resumed` the caller
        # sends now (drop what you held) must reach the listener before it.
        asyncio.get_running_loop().call_soon(self._unpause)
        return min(at, held)

    def _unpause(self) -> None:
        if not self._paused and self.pacer is not None:  # (not paused again meanwhile)
            self.pacer.resume()

    async def _send(self, samples: np.ndarray) -> None:
        if (sentence := self._starting) is not None:
            self._starting = None
            first = self.timings.first_audio_sent is None
            if first:
                self.timings.first_audio_sent = self._clock.now()
            end = self.spoken.index(sentence) + 1
            await self._out.sentence_out(_text(self.spoken[:end]), first)
        assert self.pacer is not None
        await self._out.audio(samples, self.pacer.sample_rate)

    # --- speaking -------------------------------------------------------------------

    async def say(self, sentence: str, filler: bool = False) -> None:
        """Synthesize one sentence and pace it out (`filler`: not part of the answer's
        text, see `full_text`)."""
        voice_id = self.voice_id
        tts = self._voices.tts_for(voice_id)
        resampler: StreamResampler | None = None
        spoken: Spoken | None = None
        async for chunk in tts.synthesize(sentence, voice_id):
            if self.timings.tts_first_audio is None:
                self.timings.tts_first_audio = self._clock.now()
            if self.pacer is None:
                self.pacer = Pacer(
                    self._send, chunk.sample_rate, self._clock, lead_ms=self._lead_ms
                )
            if resampler is None:
                resampler = StreamResampler(chunk.sample_rate, self.pacer.sample_rate)
            if spoken is None:
                spoken = Spoken(sentence, self._audio_ms, self._audio_ms, filler)
                self.spoken.append(spoken)
                self._starting = spoken
            await self._emit(resampler.process(chunk.samples), spoken)
        if resampler is not None and spoken is not None:
            await self._emit(resampler.process(np.zeros(0, dtype=np.int16), last=True), spoken)

    async def _emit(self, audio: np.ndarray, spoken: Spoken) -> None:
        if audio.size == 0:
            return
        assert self.pacer is not None
        # The sentence's span on the reply timeline is known before it plays: a barge-in
        # in the middle of it must see where it ends to count only the words heard.
        self._audio_ms += audio.size * 1000 / self.pacer.sample_rate
        spoken.end_ms = self._audio_ms
        await self.pacer.send(audio)

    async def speak_text(self, text: str) -> None:
        """Speak a fixed text (an injected message, a greeting, a hold line)."""
        splitter = SentenceSplitter()
        for sentence in [*splitter.push(text), splitter.flush()]:
            if sentence:
                await self.say(sentence)

    async def finish_playback(self) -> None:
        """Wait until the listener has heard everything sent."""
        if self.pacer is not None:
            await self.pacer.drain()

    # --- what was heard -------------------------------------------------------------

    @property
    def heard_anything(self) -> bool:
        """Some of this reply's audio went out: cut now, it is an interrupted turn."""
        return self.timings.first_audio_sent is not None

    @property
    def full_text(self) -> str:
        return _text(self.spoken)

    def word_start(self, played_ms: float) -> float:
        """Where the word playing at `played_ms` began (`played_ms` itself between words
        or sentences). Words share their sentence's audio evenly, as in `heard_text`."""
        for s in self.spoken:
            if s.start_ms < played_ms < s.end_ms:
                n = len(_WORDS.findall(s.text))
                share = (played_ms - s.start_ms) / (s.end_ms - s.start_ms)
                return s.start_ms + (s.end_ms - s.start_ms) * int(n * share) / max(n, 1)
        return played_ms

    def heard_text(self, played_ms: float) -> str:
        """The words of the reply the listener heard by `played_ms` into its audio.

        Whole sentences that finished playing, and of the sentence playing at that moment
        the share of its words proportional to the share of its audio played.
        """
        if not (words := self._heard(played_ms, [s for s in self.spoken if not s.filler])):
            words = self._heard(played_ms, self.spoken)
        return " ".join(words)

    @staticmethod
    def _heard(played_ms: float, sentences: list[Spoken]) -> list[str]:
        words: list[str] = []
        for s in sentences:
            if played_ms >= s.end_ms:
                words.extend(_WORDS.findall(s.text))
                continue
            if played_ms > s.start_ms and s.end_ms > s.start_ms:
                sentence_words = _WORDS.findall(s.text)
                share = (played_ms - s.start_ms) / (s.end_ms - s.start_ms)
                words.extend(sentence_words[: int(len(sentence_words) * share)])
            break
        return words
