"""Drive a real `Conversation` on virtual time (DESIGN principle 8).

Everything is real except the clock: Silero VAD, Smart Turn, pocketsphinx (worker
processes), espeak-ng, an OpenAI-compatible LLM double over HTTP, a SQLite store.
The driver feeds 32 ms frames and moves the `VirtualClock` 32 ms per frame, so stream
time and clock time move together::

    frame k fed at clock k·32 ms ──▶ sync ──▶ advance 32 ms ──▶ sync ──▶ frame k+1 …

Real work (STT, the turn model, the LLM, TTS, the store) is counted (`tracked.py`) and
`sync()` waits, in real time and without moving the clock, until none is in flight, so
real work takes no virtual time and what the tests assert on the clock (end-of-turn
deadlines, pacing, `played_ms`) is the same in every run. The LLM wait can be left out
(`wait_llm=False`) to let virtual time run while the LLM thinks (a slow local model).

What the conversation sends its transport is in `recording.py`; what it did (its
transitions and decisions, from its observer) in `trace.py`; the state machine is
strict here, so an illegal transition fails the test. `fakes.py` has providers for
pure turn-taking tests that need neither pocketsphinx nor Silero.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from parley.clock import VirtualClock
from parley.engine.conversation import Conversation
from parley.engine.endpointing import EndpointPolicy
from parley.engine.limits import SessionLimits
from parley.providers.llm.base import LLMProvider
from parley.providers.stt.base import STTProvider
from parley.providers.tts.base import TTSProvider
from parley.providers.turn.base import TurnModel
from parley.providers.vad.detector import END_THRESHOLD_OFFSET
from parley.providers.vad.silero import SileroVAD, VADStream
from parley.store import Store
from parley.store.records import TurnRecord
from parley.voices import VoiceCatalogue
from tests.engine.recording import Received, RecordingSink, TurnRow
from tests.engine.trace import EndOfTurn, EngineTrace, Transition
from tests.engine.tracked import (
    SharedSTT,
    TrackedLLM,
    TrackedRuntime,
    TrackedStore,
    TrackedSTTStream,
    TrackedTTS,
    Tracker,
)

__all__ = ["EndOfTurn", "Received", "Transition", "TurnRow"]

FRAME_SAMPLES = 512  # one Silero frame at 16 kHz
FRAME_S = FRAME_SAMPLES / 16000  # 0.032
FRAME_MS = 32
VOICE = "espeak-en-us-female"


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
        self.log: EngineTrace
        # The driver's own VAD pass over the same frames: which frames were voiced.
        self._vad: VADStream = providers.vad.stream()
        self.end_threshold = 0.5 - END_THRESHOLD_OFFSET
        self.frames: list[tuple[float, float]] = []  # (clock time fed, speech probability)
        self.wait_llm = True

    @classmethod
    async def start(
        cls,
        providers: Providers,
        *,
        policy: EndpointPolicy | None = None,
        lead_ms: int = 200,
        max_turns: int | None = None,
        system_prompt: str = "You are a helpful assistant.",
        turn_model: TurnModel | None = None,
        settings: dict[str, Any] | None = None,
        limits: SessionLimits | None = None,
        expires_at: datetime | None = None,
    ) -> Harness:
        """`turn_model`: instead of the real Smart Turn (e.g. a `fakes.FixedTurnModel`)."""
        clock = VirtualClock()
        tracker = Tracker()
        runtime = TrackedRuntime(
            vad=providers.vad,
            turn_model=turn_model or providers.turn_model,
            stt=SharedSTT(providers.stt),
            tts={providers.tts.name: TrackedTTS(providers.tts, tracker)},
            voices=VoiceCatalogue(providers.tts.voices()),
            llm=TrackedLLM(providers.llm, tracker),
            clock=clock,
            policy=policy or EndpointPolicy(),
            lead_ms=lead_ms,
            tracker=tracker,
            stt_barrier=providers.stt_barrier,
            strict_states=True,
            limits=limits or SessionLimits(),
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
            settings=settings,
            expires_at=expires_at,
        )
        stream = TrackedSTTStream(await providers.stt.open("en"), tracker)
        sink = RecordingSink(clock, store, tracker)
        sink.conversation_id = record.id
        h = cls(providers, clock, runtime, store, sink)
        h.log = EngineTrace(clock, record.id)
        h.conv = Conversation(record, runtime, store, stream, [], vad_threshold=0.5, observer=h.log)
        h.conv.attach(sink, 0.5)
        logging.getLogger("parley").addHandler(h.log)
        return h

    async def close(self) -> None:
        logging.getLogger("parley").removeHandler(self.log)
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
