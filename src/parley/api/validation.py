"""Checks shared by the create endpoints: language and voice against what is installed."""

from __future__ import annotations

import re
from typing import Any

from parley.api.context import ServerContext
from parley.api.errors import ApiError
from parley.api.schemas import SessionSettings

_LANGUAGE = re.compile(r"^[a-z]{2,3}$")


def check_language(ctx: ServerContext, language: str) -> str:
    """The language code, validated: one the TTS voices and the STT both handle."""
    if not _LANGUAGE.match(language):
        hint = language.split("-")[0].split("_")[0].lower()
        raise ApiError(
            400,
            f"Invalid 'language' {language!r}: use an ISO 639-1 code such as 'en' or {hint!r}.",
            "language",
        )
    if language not in ctx.voices.languages() and not ctx.voices.multilingual():
        raise ApiError(
            400,
            f"Unsupported 'language' {language!r}: no installed voice speaks it. "
            "GET /v1/voices lists the languages available.",
            "language",
        )
    if ctx.stt_languages is not None and language not in ctx.stt_languages:
        # the provider may say how to enable more languages (whisper: a multilingual model)
        hint = getattr(ctx.runtime.stt, "other_languages_hint", "") or (
            "for other languages use PARLEY_STT=whisper with a multilingual model "
            "(`parley models pull whisper-small`, PARLEY_WHISPER_MODEL=small)"
        )
        raise ApiError(
            400,
            f"Unsupported 'language' {language!r} for speech recognition: the configured STT "
            f"({ctx.stt_name or 'default'}) handles {sorted(ctx.stt_languages)}; {hint}, or "
            "point PARLEY_STT_BASE_URL at an OpenAI-compatible transcription server.",
            "language",
        )
    return language


def check_voice(ctx: ServerContext, voice_id: str, language: str) -> str:
    if (problem := ctx.voices.refusal(voice_id, language)) is not None:
        raise ApiError(400, problem, "voice_id")
    return voice_id


def check_settings(settings: SessionSettings | None) -> dict[str, Any] | None:
    """The session settings to store (each field is checked by its schema), once the
    end-of-turn waits are in order: fast ≤ normal ≤ slow."""
    if settings is None:
        return None
    waits = ("end_of_turn_fast_ms", "end_of_turn_normal_ms", "end_of_turn_slow_ms")
    for shorter, longer in zip(waits, waits[1:], strict=False):
        if getattr(settings, shorter) > getattr(settings, longer):
            raise ApiError(
                400,
                f"Invalid 'settings.{longer}': {getattr(settings, longer)} is shorter than "
                f"'settings.{shorter}' ({getattr(settings, shorter)}); the waits must be "
                "fast ≤ normal ≤ slow.",
                "settings",
            )
    return settings.model_dump()
