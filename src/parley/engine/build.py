"""Build the process-wide `Runtime` from settings (providers chosen by configuration)."""

from __future__ import annotations

import functools
import logging

from parley.clock import Clock, RealClock
from parley.config import Settings
from parley.engine.runtime import Runtime
from parley.engine.tools import WebhookClient, WebhookLimits
from parley.net.outbound import OutboundPolicy
from parley.net.secrets import SecretBox
from parley.providers.llm.openai_chat import llm_from_settings
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
    if not settings.llm_base_url:
        log.warning(
            "No LLM configured: set PARLEY_LLM_BASE_URL (and PARLEY_LLM_MODEL) to an "
            "OpenAI-compatible server; until then conversations answer with an error event."
        )
    return Runtime(
        vad=vad,
        turn_model=turn_model,
        stt=build_stt(settings),
        tts=tts,
        voices=voices,
        llm=llm_from_settings(settings.llm_base_url, settings.llm_model, settings.llm_api_key),
        clock=clock or RealClock(),
        webhook_client=functools.partial(
            WebhookClient,
            OutboundPolicy.from_settings(settings),
            WebhookLimits.from_settings(settings),
            SecretBox.from_settings(settings),
        ),
    )
