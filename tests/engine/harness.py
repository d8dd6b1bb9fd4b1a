"""Drive a real `Conversation` on virtual time (DESIGN principle 8).

Everything is real except the clock: Silero VAD, Smart Turn, pocketsphinx (worker
processes), espeak-ng, an OpenAI-compatible LLM double over HTTP, a SQLite store.
The driver feeds 32 ms frames and moves the `VirtualClock` 32 ms per frame, so stream
time and clock time move together::

    frame k fed at clock k·32 ms ──▶ sync ──▶ advance 32 ms ──▶ sync ──▶ frame k+1 …

Some work takes real time: STT finish (a pipe round trip), the turn model (a thread),
the LLM (HTTP), espeak (a thread), the store (aiosqlite). The providers are wrapped in
thin counters (`Tracker`) and `sync()` waits, in real time and without moving the
clock, until none of that work is in flight. So real work takes no virtual time, and
what the tests assert on the clock (end-of-turn deadlines, pacing, `played_ms`) is the
same in every run. The LLM wait can be left out (`wait_llm=False`) to let virtual time
run while the LLM thinks (a slow local model).

One more real-time input is made deterministic: the partial transcript the end-of-turn
policy reads. `TrackedRuntime.predict_turn` ends with a barrier on the (single)
pocketsphinx worker, so the partial then covers every batch of audio sent so far.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from parley.clock import VirtualClock
from parley.engine import events as ev
from parley.engine.conversation import Conversation
from parley.engine.endpointing import EndpointPolicy
from parley.engine.runtime import Runtime
from parley.providers.llm.base import ChatMessage, LLMEvent, LLMProvider, ToolSpec
from parley.providers.stt.base import PartialCallback, STTProvider, STTStream
from parley.providers.tts.base import TTSChunk, TTSProvider, VoiceInfo
from parley.providers.turn.base import TurnModel
from parley.providers.vad.detector import END_THRESHOLD_OFFSET
from parley.providers.vad.silero import SileroVAD, VADStream
from parley.store import Store
from parley.store.conversations import ConversationStore
from parley.store.db import sessionmaker
from parley.store.records import TurnRecord
from parley.voices import VoiceCatalogue

FRAME_SAMPLES = 512  # one Silero frame at 16 kHz
FRAME_S = FRAME_SAMPLES / 16000  # 0.032
FRAME_MS = 32
VOICE = "espeak-en-us-female"


# --- counting real work -------------------------------------------------------------


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


# --- what the transport receives ----------------------------------------------------


@dataclass
class Received:
    t: float  # virtual time it arrived
    event: ev.Event | None = None
    samples: int = 0  # audio (event is None)


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

    out_rate = 16000

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

    async def event(self, event: ev.Event) -> None:
        now = self._clock.now()
        self.log.append(Received(now, event))
        if isinstance(event, ev.Interrupted):
            self._buffer_end = None  # the transport tells the client to drop its buffer
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

    async def audio(self, samples: np.ndarray) -> None:
        now = self._clock.now()
        self.log.append(Received(now, None, int(samples.size)))
        start = now if self._buffer_end is None else max(self._buffer_end, now)
        self._buffer_end = start + samples.size / self.out_rate
        self.max_ahead_ms = max(self.max_ahead_ms, (self._buffer_end - now) * 1000)

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
        return [r for r in self.log if r.event is None]


# --- the engine's log, stamped with virtual time ---------------------------------------

_TRANSITION = re.compile(r"session=(\S+) turn=\S* (\w+) → (\w+) \((.*)\)$")
_END_OF_TURN = re.compile(r"session=(\S+) end of turn: p=(\S+) need=(\d+)ms speech=(-?\d+)ms")


@dataclass(frozen=True)
class Transition:
    t: float
    old: str
    new: str
    why: str


@dataclass(frozen=True)
class EndOfTurn:
    t: float
    probability: float | None
    need_ms: int
    speech_ms: int


class EngineLog(logging.Handler):
    """State transitions and end-of-turn decisions of one session, with the virtual time
    at which they were logged (they are logged as they happen)."""

    def __init__(self, clock: VirtualClock, session_id: str) -> None:
        super().__init__(logging.INFO)
        self._clock = clock
        self._session = session_id
        self.transitions: list[Transition] = []
        self.decisions: list[EndOfTurn] = []
        self.errors: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if f"session={self._session} " not in message:
            return
        if record.levelno >= logging.ERROR:
            self.errors.append(message)
        if m := _TRANSITION.search(message):
            self.transitions.append(Transition(self._clock.now(), m[2], m[3], m[4]))
        elif m := _END_OF_TURN.search(message):
            p = None if m[2] == "None" else float(m[2])
            self.decisions.append(EndOfTurn(self._clock.now(), p, int(m[3]), int(m[4])))

    def went(self, new: str, why: str | None = None) -> list[Transition]:
        return [t for t in self.transitions if t.new == new and (why is None or t.why == why)]


# --- the providers a test module shares -------------------------------------------------


@dataclass
class Providers:
    """Loaded once per test module (pocketsphinx starts worker processes: ~1 s)."""

    vad: SileroVAD
    turn_model: TurnModel
    stt: STTProvider
    tts: TTSProvider
    llm: LLMProvider  # OpenAIChatLLM pointed at the module's LLM double
    store: Store
    stt_barrier: Callable[[], Awaitable[None]]


# --- the driver ---------------------------------------------------------------------


class Harness:
    """One conversation on virtual time. Create with `await Harness.start(...)`."""

    def __init__(
        self,
        providers: Providers,
        clock: VirtualClock,
        runtime: TrackedRuntime,
        store: TrackedStore,
        sink: RecordingSink,
    ) -> None:
        self.providers = providers
        self.clock = clock
        self.runtime = runtime
        self.tracker = runtime.tracker
        self.store = store
        self.sink = sink
        self.conv: Conversation
        self.log: EngineLog
        # The driver's own VAD pass over the same frames: which frames were voiced.
        self._vad: VADStream = providers.vad.stream()
        self.end_threshold = 0.5 - END_THRESHOLD_OFFSET
        self.frames: list[tuple[float, float]] = []  # (clock time fed, speech probability)
        self.wait_llm = True
        self._old_level = logging.NOTSET

    @classmethod
    async def start(
        cls,
        providers: Providers,
        *,
        policy: EndpointPolicy | None = None,
        lead_ms: int = 200,
        max_turns: int | None = None,
        system_prompt: str = "You are a helpful assistant.",
    ) -> Harness:
        clock = VirtualClock()
        tracker = Tracker()
        runtime = TrackedRuntime(
            vad=providers.vad,
            turn_model=providers.turn_model,
            stt=SharedSTT(providers.stt),
            tts={providers.tts.name: TrackedTTS(providers.tts, tracker)},
            voices=VoiceCatalogue(providers.tts.voices()),
            llm=TrackedLLM(providers.llm, tracker),
            clock=clock,
            policy=policy or EndpointPolicy(),
            lead_ms=lead_ms,
            tracker=tracker,
            stt_barrier=providers.stt_barrier,
        )
        store = TrackedStore(providers.store, tracker)
        account = await providers.store.keys.create_account("engine-tests")
        record = await store.create(
            account_id=account,
            voice_id=VOICE,
            system_prompt=system_prompt,
            language="en",
            tools=[],
            context_window=20,
            max_turns=max_turns,
        )
        stream = TrackedSTTStream(await providers.stt.open("en"), tracker)
        sink = RecordingSink(clock, store, tracker)
        sink.conversation_id = record.id
        h = cls(providers, clock, runtime, store, sink)
        h.conv = Conversation(record, runtime, store, stream, [], vad_threshold=0.5)
        h.conv.attach(sink, 0.5)
        h.log = EngineLog(clock, record.id)
        engine_log = logging.getLogger("parley.engine")
        engine_log.addHandler(h.log)
        h._old_level = engine_log.level
        engine_log.setLevel(logging.INFO)
        return h

    async def close(self) -> None:
        engine_log = logging.getLogger("parley.engine")
        engine_log.removeHandler(self.log)
        engine_log.setLevel(self._old_level)
        await self.conv.close()
        await self.runtime.close()

    # --- real-time waits, virtual time standing still ------------------------------------

    async def sync(self, timeout: float = 20.0) -> None:
        """Wait (real time, clock still) until no counted real work is in flight."""
        deadline = time.monotonic() + timeout
        while True:
            await self.clock.settle()
            if not self.tracker.in_flight(self.wait_llm):
                await self.clock.settle()
                if not self.tracker.in_flight(self.wait_llm):
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"still in flight: {self.tracker.in_flight(self.wait_llm)}")
            await asyncio.sleep(0.002)

    async def wait_real(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait in real time, without moving the clock, until `predicate()`."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError("condition not met in real time")
            await asyncio.sleep(0.005)

    # --- feeding audio -------------------------------------------------------------------

    async def step(self, frame: np.ndarray) -> None:
        """One 32 ms frame: fed at the current clock time, then the clock moves 32 ms."""
        now = self.clock.now()
        self.frames.append((now, self._vad.probability(frame)))
        self.conv.feed_audio(frame)
        await self.sync()
        await self.clock.advance(FRAME_S)
        await self.sync()

    async def feed(self, audio: np.ndarray) -> None:
        """Feed audio frame by frame (the last frame padded with silence)."""
        pad = -audio.size % FRAME_SAMPLES
        if pad:
            audio = np.concatenate([audio, np.zeros(pad, dtype=np.int16)])
        for i in range(0, audio.size, FRAME_SAMPLES):
            await self.step(audio[i : i + FRAME_SAMPLES])

    async def silence(self, seconds: float) -> None:
        await self.feed(np.zeros(round(seconds / FRAME_S) * FRAME_SAMPLES, dtype=np.int16))

    async def until(self, predicate: Callable[[], bool], max_seconds: float = 10.0) -> float:
        """Feed silence until `predicate()`; the clock time it became true."""
        silent = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        limit = self.clock.now() + max_seconds
        while not predicate():
            if self.clock.now() > limit:
                raise AssertionError(
                    f"not within {max_seconds} s of virtual time; state {self.conv.state}, "
                    f"events {[r.event for r in self.sink.log if r.event is not None]}"
                )
            await self.step(silent)
        return self.clock.now()

    # --- reading what happened ---------------------------------------------------------

    def last_voiced_before(self, t: float) -> float:
        """Clock time of the last frame fed before `t` that the VAD heard as voice."""
        voiced = [at for at, p in self.frames if at < t and p >= self.end_threshold]
        assert voiced, "no voiced frame"
        return voiced[-1]

    async def stored(self) -> list[TurnRecord]:
        return await self.store.turns(self.conv.id)


def turn_summary(turns: list[TurnRecord]) -> list[tuple[str, bool]]:
    return [(t.role, t.interrupted) for t in turns]
