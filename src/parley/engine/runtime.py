"""What every conversation of the process shares: models and providers (principle 7).

Models load once per process; per-conversation state is small (a VAD state, an STT
stream, a detector). CPU-heavy inference runs off the event loop: the turn model in a
small thread pool (onnxruntime releases the GIL), STT in its own workers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx
import numpy as np

from parley.audio.budget import AudioBudget
from parley.clock import Clock, RealClock
from parley.engine.endpointing import EndpointPolicy
from parley.engine.limits import SessionLimits
from parley.engine.tools import WebhookClient
from parley.metrics import Metrics
from parley.providers.llm.base import LLMProvider
from parley.providers.stt.base import STTProvider
from parley.providers.tts.base import TTSProvider
from parley.providers.turn.base import TurnModel
from parley.providers.vad.silero import SileroVAD
from parley.voices import VoiceCatalogue

log = logging.getLogger("parley.runtime")


@dataclass
class Runtime:
    vad: SileroVAD
    turn_model: TurnModel | None
    stt: STTProvider
    tts: dict[str, TTSProvider]  # by engine name
    voices: VoiceCatalogue
    llm: LLMProvider
    clock: Clock = field(default_factory=RealClock)
    policy: EndpointPolicy = field(default_factory=EndpointPolicy)
    limits: SessionLimits = field(default_factory=SessionLimits)  # idle, duration
    # How fast a client may send audio (audio/budget.py): times real time, and a backlog.
    audio_max_speed: float = 1.5
    audio_burst_s: float = 10.0
    lead_ms: int = 200
    # Barge-in needs speech sustained this long (shorter than a turn start: the reply
    # must stop quickly; Silero, not duration, is what rejects noise and coughs).
    vad_start_ms: int = 128
    vad_stop_ms: int = 160
    turn_threads: int = 2
    # An illegal state transition raises (tests) instead of being logged and refused.
    strict_states: bool = False
    # The client for server-side tools: its outbound policy and limits (engine/tools.py).
    webhook_client: Callable[[], httpx.AsyncClient] = WebhookClient
    metrics: Metrics = field(default_factory=Metrics)  # every conversation's, for /metrics
    _executor: ThreadPoolExecutor | None = None
    _http: httpx.AsyncClient | None = None

    def http(self) -> httpx.AsyncClient:
        """The client for server-side tools (one per process, pooled)."""
        if self._http is None:
            self._http = self.webhook_client()
        return self._http

    def audio_budget(self) -> AudioBudget:
        """A new conversation's allowance of incoming audio."""
        return AudioBudget(self.audio_max_speed, self.audio_burst_s)

    def tts_for(self, voice_id: str) -> TTSProvider:
        voice = self.voices.get(voice_id)
        engine = voice.engine if voice else next(iter(self.tts))
        return self.tts.get(engine) or next(iter(self.tts.values()))

    async def predict_turn(self, audio: np.ndarray) -> float | None:
        """The turn model's probability that the user finished, or None without a model."""
        if self.turn_model is None or audio.size == 0:
            return None
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.turn_threads, thread_name_prefix="turn")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, self.turn_model.predict, audio)
        except Exception:  # a model failure must not end the turn logic
            log.exception("turn model failed")
            return None

    async def close(self) -> None:
        await self.stt.close()
        aclose = getattr(self.llm, "aclose", None)
        if aclose is not None:
            await aclose()
        if self._executor is not None:
            self._executor.shutdown(wait=False)
        if self._http is not None:
            await self._http.aclose()
