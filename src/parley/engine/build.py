"""Build the process-wide `Runtime` from settings (providers chosen by configuration)."""

from __future__ import annotations

import functools
import logging

from parley.clock import Clock, RealClock
from parley.config import Settings
from parley.engine.limits import SessionLimits
from parley.engine.runtime import Runtime
from parley.engine.tools import WebhookClient, WebhookLimits
from parley.net.outbound import OutboundPolicy
from parley.net.secrets import SecretBox
from parley.providers.llm.base import LLMProvider
from parley.providers.llm.choose import build_llm
from parley.providers.llm.gguf import GGUFError
from parley.providers.stt import stt_from_settings
from parley.providers.stt.base import STTProvider
from parley.providers.tts.factory import build_tts
from parley.providers.turn.smart_turn import SmartTurn
from parley.providers.vad.silero import SileroVAD
from parley.voices import VoiceCatalogue

log = logging.getLogger("parley")


def build_stt(settings: Settings) -> STTProvider:
    provider, reason = stt_from_settings(settings=settings)
    log.info("speech-to-text: %s", reason)
    return provider


def build_llm_logged(settings: Settings) -> LLMProvider:
    """The LLM `PARLEY_LLM` chooses, its choice logged; an embedded one is measured."""
    try:
        llm, choice = build_llm(settings)
    except (GGUFError, ValueError) as exc:
        log.error("LLM: %s", exc)  # the reason, plainly, before the start-up traceback
        raise
    if choice.kind == "none":
        log.warning("%s. To fix: %s", choice.reason, choice.fix)
        return llm
    measure = getattr(llm, "measure", None)
    if measure is not None:
        measure()
    describe = getattr(llm, "describe", None)
    log.info("LLM: %s", describe() if describe is not None else choice.reason)
    return llm


def build_runtime(settings: Settings, clock: Clock | None = None) -> Runtime:
    """Every provider, built once. Raises (with what to fix) on a misconfiguration."""
    tts = build_tts(settings)
    voices = VoiceCatalogue(v for engine in tts.values() for v in engine.voices())
    vad = SileroVAD()
    vad.load()  # fail at start-up, clearly, rather than on the first stream
    turn_model: SmartTurn | None
    try:
        turn_model = SmartTurn()
        turn_model.load()
    except Exception as exc:  # the turn model is an improvement, not a requirement
        log.warning("Smart Turn model unavailable (%s); end of turn uses silence and words", exc)
        turn_model = None
    llm = build_llm_logged(settings)
    return Runtime(
        vad=vad,
        turn_model=turn_model,
        stt=build_stt(settings),
        tts=tts,
        voices=voices,
        llm=llm,
        clock=clock or RealClock(),
        limits=SessionLimits(
            settings.session_idle_timeout_s,
            settings.session_max_duration_s,
            settings.max_utterance_s,
        ),
        audio_max_speed=settings.audio_max_speed,
        audio_burst_s=settings.audio_burst_s,
        webhook_client=functools.partial(
            WebhookClient,
            OutboundPolicy.from_settings(settings),
            WebhookLimits.from_settings(settings),
            SecretBox.from_settings(settings),
        ),
    )
