"""Real providers wrapped in thin counters, so the driver knows when real work is in flight.

Some work takes real time: STT finish (a pipe round trip), the turn model (a thread),
the LLM (HTTP), espeak (a thread), the store (aiosqlite). `Tracker` counts each wait
and the driver's `sync()` (`harness.py`) waits, in real time and without moving the
virtual clock, until none is in flight. `TrackedRuntime.predict_turn` ends with a
barrier on the (single) pocketsphinx worker, so the partial transcript the end-of-turn
policy reads then covers every batch of audio sent so far.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from parley.engine.runtime import Runtime
from parley.providers.llm.base import ChatMessage, LLMEvent, LLMProvider, ToolSpec
from parley.providers.stt.base import PartialCallback, STTProvider, STTStream
from parley.providers.tts.base import TTSChunk, TTSProvider, VoiceInfo
from parley.store import Store
from parley.store.conversations import ConversationStore
from parley.store.db import sessionmaker
from parley.store.records import TurnRecord


class Tracker:
    """How many real-time waits of each kind are in flight."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    @contextlib.contextmanager
    def busy(self, kind: str) -> Iterator[None]:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        try:
            yield
        finally:
            self.counts[kind] -= 1

    def in_flight(self, wait_llm: bool = True) -> list[str]:
        return [k for k, n in self.counts.items() if n and (wait_llm or k != "llm")]


class TrackedTTS:
    """A TTS provider, with each wait for the next chunk counted."""

    def __init__(self, inner: TTSProvider, tracker: Tracker) -> None:
        self._inner = inner
        self._tracker = tracker
        self.name = inner.name

    def voices(self) -> tuple[VoiceInfo, ...]:
        return self._inner.voices()

    async def synthesize(self, text: str, voice_id: str) -> AsyncIterator[TTSChunk]:
        chunks = self._inner.synthesize(text, voice_id)
        while True:
            with self._tracker.busy("tts"):
                try:
                    chunk = await anext(chunks)
                except StopAsyncIteration:
                    return
            yield chunk


class TrackedLLM:
    """An LLM provider, with each wait for the next event counted."""

    def __init__(self, inner: LLMProvider, tracker: Tracker) -> None:
        self._inner = inner
        self._tracker = tracker

    async def stream(
        self, messages: list[ChatMessage], tools: list[ToolSpec] | None = None
    ) -> AsyncGenerator[LLMEvent, None]:
        async with contextlib.aclosing(self._inner.stream(messages, tools)) as events:
            while True:
                with self._tracker.busy("llm"):
                    try:
                        event = await anext(events)
                    except StopAsyncIteration:
                        return
                yield event


class TrackedSTTStream:
    """A conversation's STT stream, with `finish()` counted."""

    def __init__(self, inner: STTStream, tracker: Tracker) -> None:
        self._inner = inner
        self._tracker = tracker

    def feed(self, samples: np.ndarray) -> None:
        self._inner.feed(samples)

    @property
    def interim(self) -> bool:
        return self._inner.interim

    def partial(self) -> str:
        return self._inner.partial()

    @property
    def caught_up(self) -> bool:
        return bool(getattr(self._inner, "caught_up", True))

    async def finish(self) -> str:
        with self._tracker.busy("stt"):
            return await self._inner.finish()

    async def cancel(self) -> None:
        await self._inner.cancel()

    async def close(self) -> None:
        await self._inner.close()


class SharedSTT:
    """The module's STT provider as a `Runtime` field: closing a runtime leaves it running."""

    def __init__(self, inner: STTProvider) -> None:
        self._inner = inner
        self.name = inner.name
        self.languages = inner.languages

    def supports(self, language: str) -> bool:
        return self._inner.supports(language)

    async def open(self, language: str, on_partial: PartialCallback | None = None) -> STTStream:
        return await self._inner.open(language, on_partial)

    async def close(self) -> None:
        return None


class TrackedStore(ConversationStore):
    """The conversation store, with its writes counted."""

    def __init__(self, store: Store, tracker: Tracker) -> None:
        super().__init__(sessionmaker(store.engine))
        self._tracker = tracker

    async def append_turn(self, conversation_id: str, **fields: Any) -> TurnRecord:
        with self._tracker.busy("store"):
            return await super().append_turn(conversation_id, **fields)

    async def end(self, conversation_id: str, status: str = "ended", reason: str = "ended") -> Any:
        with self._tracker.busy("store"):
            return await super().end(conversation_id, status, reason)


@dataclass
class TrackedRuntime(Runtime):
    """A real `Runtime`; `predict_turn` is counted and ends with an STT barrier."""

    tracker: Tracker = field(default_factory=Tracker)
    stt_barrier: Callable[[], Awaitable[None]] | None = None

    async def predict_turn(self, audio: np.ndarray) -> float | None:
        with self.tracker.busy("turn"):
            probability = await super().predict_turn(audio)
            if self.stt_barrier is not None:
                await self.stt_barrier()
            return probability
