"""One assistant reply: LLM stream → sentences → TTS → pacer (DESIGN principle 2).

A `Reply` runs inside one task; cancelling that task (barge-in) stops it as a unit.
It records which sentence occupies which span of the reply audio, so that after an
interruption `heard_text(played_ms)` gives the words the listener actually heard
(principle 3).

    LLM  ──text──▶ splitter ──sentence──▶ queue ──▶ TTS ──audio──▶ pacer ──▶ sink
    (producer task)                        (speaker: this task)
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import numpy as np

from parley.audio.pacer import Pacer
from parley.audio.resample import StreamResampler
from parley.clock import Clock
from parley.engine.sentences import SentenceSplitter
from parley.providers.llm.base import (
    ChatMessage,
    LLMProvider,
    TextDelta,
    ToolCall,
    ToolCallsReady,
    ToolSpec,
)
from parley.providers.tts.base import TTSProvider

AudioSink = Callable[[np.ndarray], Awaitable[None]]


@dataclass
class Spoken:
    text: str
    start_ms: float
    end_ms: float


@dataclass
class ReplyTimings:
    """Clock readings (seconds) of the reply's milestones, for the latency breakdown."""

    started: float = 0.0
    llm_first_token: float | None = None
    tts_first_audio: float | None = None
    first_audio_sent: float | None = None


@dataclass
class LLMRound:
    """What one LLM call produced: text (possibly spoken) and tool calls."""

    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)


_WORDS = re.compile(r"\S+")


class Reply:
    def __init__(
        self,
        *,
        llm: LLMProvider,
        tts_for: Callable[[str], TTSProvider],
        voice: Callable[[], str],
        out_rate: int,
        clock: Clock,
        sink: AudioSink,
        on_first_audio: Callable[[], Awaitable[None]],
        on_sentence: Callable[[str], Awaitable[None]],
        lead_ms: int = 200,
        before_speaking: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self._before_speaking = before_speaking
        self._llm = llm
        self._tts_for = tts_for
        self._voice = voice
        self._clock = clock
        self._out_rate = out_rate
        self._on_first_audio = on_first_audio
        self._on_sentence = on_sentence
        self._sink = sink
        self.pacer = Pacer(self._send, out_rate, clock, lead_ms=lead_ms)
        self.spoken: list[Spoken] = []
        self.timings = ReplyTimings(started=clock.now())
        self._audio_ms = 0.0  # reply audio produced so far (the pacer's timeline)

    @property
    def started_audio(self) -> bool:
        return self.timings.first_audio_sent is not None

    async def _send(self, samples: np.ndarray) -> None:
        if self.timings.first_audio_sent is None:
            self.timings.first_audio_sent = self._clock.now()
            await self._on_first_audio()
        await self._sink(samples)

    # --- speaking -------------------------------------------------------------------

    async def ready_to_speak(self) -> None:
        """Run the `before_speaking` hook, once (before the first sentence is spoken)."""
        hook, self._before_speaking = self._before_speaking, None
        if hook is not None:
            await hook()

    async def say(self, sentence: str) -> None:
        """Synthesize one sentence and pace it out."""
        await self.ready_to_speak()
        voice_id = self._voice()
        tts = self._tts_for(voice_id)
        resampler: StreamResampler | None = None
        start = self._audio_ms
        announced = False
        async for chunk in tts.synthesize(sentence, voice_id):
            if self.timings.tts_first_audio is None:
                self.timings.tts_first_audio = self._clock.now()
            if resampler is None:
                resampler = StreamResampler(chunk.sample_rate, self._out_rate)
            audio = resampler.process(chunk.samples)
            if not announced:
                self.spoken.append(Spoken(sentence, start, start))
                announced = True
                await self._on_sentence(sentence)
            await self._emit(audio)
        if resampler is not None:
            await self._emit(resampler.process(np.zeros(0, dtype=np.int16), last=True))
        if announced:
            self.spoken[-1].end_ms = self._audio_ms

    async def _emit(self, audio: np.ndarray) -> None:
        if audio.size == 0:
            return
        # The sentence's span on the reply timeline is known before it plays: a barge-in
        # in the middle of it must see where it ends to count only the words heard.
        self._audio_ms += audio.size * 1000 / self._out_rate
        if self.spoken:
            self.spoken[-1].end_ms = self._audio_ms
        await self.pacer.send(audio)

    async def speak_text(self, text: str) -> None:
        """Speak a fixed text (an injected message, a greeting, a hold line)."""
        splitter = SentenceSplitter()
        for sentence in [*splitter.push(text), splitter.flush()]:
            if sentence:
                await self.say(sentence)

    async def finish_playback(self) -> None:
        """Wait until the listener has heard everything sent."""
        await self.pacer.drain()

    # --- thinking -------------------------------------------------------------------

    async def speak_llm(
        self, messages: list[ChatMessage], tools: list[ToolSpec] | None
    ) -> LLMRound:
        """Stream one LLM response, speaking its sentences as they complete."""
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        result = LLMRound()

        async def produce() -> None:
            splitter = SentenceSplitter()
            try:
                async with contextlib.aclosing(self._llm.stream(messages, tools)) as events:
                    async for event in events:
                        if isinstance(event, TextDelta):
                            if self.timings.llm_first_token is None:
                                self.timings.llm_first_token = self._clock.now()
                            result.text += event.text
                            for sentence in splitter.push(event.text):
                                queue.put_nowait(sentence)
                        elif isinstance(event, ToolCallsReady):
                            if self.timings.llm_first_token is None:
                                self.timings.llm_first_token = self._clock.now()
                            result.tool_calls.extend(event.calls)
                rest = splitter.flush()
                if rest:
                    queue.put_nowait(rest)
            finally:
                queue.put_nowait(None)

        producer = asyncio.create_task(produce())
        try:
            while (sentence := await queue.get()) is not None:
                await self.say(sentence)
            await producer  # re-raises an LLM error
        finally:
            if not producer.done():
                producer.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await producer
        return result

    # --- what was heard -------------------------------------------------------------

    @property
    def full_text(self) -> str:
        return " ".join(s.text for s in self.spoken)

    def heard_text(self, played_ms: float) -> str:
        """The words of the reply the listener heard by `played_ms` into its audio.

        Whole sentences that finished playing, and of the sentence playing at that moment
        the share of its words proportional to the share of its audio played.
        """
        words: list[str] = []
        for s in self.spoken:
            if played_ms >= s.end_ms:
                words.extend(_WORDS.findall(s.text))
                continue
            if played_ms > s.start_ms and s.end_ms > s.start_ms:
                sentence_words = _WORDS.findall(s.text)
                share = (played_ms - s.start_ms) / (s.end_ms - s.start_ms)
                words.extend(sentence_words[: int(len(sentence_words) * share)])
            break
        return " ".join(words)
