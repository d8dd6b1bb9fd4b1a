"""Which text-to-speech engines run, from settings (`PARLEY_TTS` and friends).

    PARLEY_TTS=auto     Piper with its bundled voice `piper-en-us-joe` (the default for
                        English) and any voices in its voices directory; espeak-ng always;
                        the OpenAI-compatible server when PARLEY_TTS_BASE_URL is set
    PARLEY_TTS=espeak   espeak-ng only
    PARLEY_TTS=piper    Piper + espeak-ng; no Piper voices (or no piper-tts) is an error
    PARLEY_TTS=openai   the server + espeak-ng; no PARLEY_TTS_BASE_URL is an error

espeak-ng is always there: it is embedded, speaks ~100 languages, and is the fallback for
languages the chosen engine lacks. Engines come best first (the chosen one, then the
others, espeak-ng last): the first is the default for voice ids no engine knows.
Misconfigurations raise `TTSError("tts_misconfigured")` at start-up, not on the first reply.
"""

from __future__ import annotations

import logging
from pathlib import Path

from parley.config import Settings
from parley.providers.tts import piper as piper_engine
from parley.providers.tts.base import TTSProvider
from parley.providers.tts.errors import TTS_MISCONFIGURED, TTSError
from parley.providers.tts.piper import EXAMPLE_VOICE, INSTALL_HINT, PiperTTS

log = logging.getLogger(__name__)

ESPEAK = "espeak"
PIPER = piper_engine.ENGINE
OPENAI = "openai"
CHOICES = ("auto", ESPEAK, PIPER, OPENAI)
_PULL_HINT = f"parley models pull {PIPER}-{EXAMPLE_VOICE}"
_BASE_URL_HINT = (
    "set PARLEY_TTS_BASE_URL to an OpenAI-compatible speech server (e.g. "
    "https://api.openai.com/v1 with PARLEY_TTS_API_KEY, or a local Kokoro-FastAPI at "
    "http://127.0.0.1:8880/v1)"
)


def piper_voices_dir(settings: Settings) -> Path:
    """Where Piper voices live: PARLEY_PIPER_VOICES_DIR, else `<data_dir>/models/piper`."""
    return settings.piper_voices_dir or settings.data_dir / "models" / "piper"


def tts_voice_names(settings: Settings) -> list[str]:
    """PARLEY_TTS_VOICES, split on commas."""
    return [n.strip() for n in settings.tts_voices.split(",") if n.strip()]


def _choice(settings: Settings) -> str:
    choice = settings.tts.strip().lower()
    if choice not in CHOICES:
        raise TTSError(
            TTS_MISCONFIGURED, f"PARLEY_TTS={settings.tts!r}: choose one of {', '.join(CHOICES)}"
        )
    return choice


def build_tts(settings: Settings) -> dict[str, TTSProvider]:
    """The engines to run, by engine name, best first. Raises `TTSError` on misconfiguration."""
    from parley.providers.tts.espeak import EspeakTTS
    from parley.providers.tts.openai_compat import OpenAICompatTTS

    choice = _choice(settings)
    engines: dict[str, TTSProvider] = {}
    if choice in ("auto", OPENAI):
        if settings.tts_base_url:
            names = tts_voice_names(settings)
            if not names:
                raise TTSError(TTS_MISCONFIGURED, "PARLEY_TTS_VOICES is empty: name a voice")
            engines[OPENAI] = OpenAICompatTTS(
                settings.tts_base_url,
                settings.tts_api_key,
                settings.tts_model,
                names,
                sample_rate=settings.tts_sample_rate,
            )
        elif choice == OPENAI:
            raise TTSError(TTS_MISCONFIGURED, f"PARLEY_TTS=openai needs a server: {_BASE_URL_HINT}")
    if choice in ("auto", PIPER):
        voices_dir = piper_voices_dir(settings)
        piper = PiperTTS(voices_dir)
        if piper.found and piper.installed:
            engines[PIPER] = piper
        elif choice == PIPER:
            raise TTSError(TTS_MISCONFIGURED, "PARLEY_TTS=piper: " + _piper_problem(piper))
        elif piper.found:
            log.warning(
                "%d Piper voice(s) in %s, but Piper is not installed: %s",
                len(piper.found),
                voices_dir,
                INSTALL_HINT,
            )
    engines[ESPEAK] = EspeakTTS()
    return engines


def _piper_problem(piper: PiperTTS) -> str:
    if not piper.installed:
        return f"Piper is not installed: {INSTALL_HINT}"
    return f"no Piper voices in {piper.voices_dir}: {_PULL_HINT}"


def describe_tts(settings: Settings) -> list[tuple[str, str, str]]:
    """(name, status, detail) lines for `parley doctor`; status is ok, missing or info.

    Reads files and settings only: it neither loads voices nor contacts a server."""
    try:
        choice = _choice(settings)
    except TTSError as e:
        return [("tts", "missing", e.message)]
    lines = [_espeak_line(), _piper_line(settings, choice), _openai_line(settings, choice)]
    return [("tts", "info", f"PARLEY_TTS={choice}"), *lines]


def _espeak_line() -> tuple[str, str, str]:
    try:
        from parley.providers.tts.espeak import catalogue

        voices = catalogue()
    except Exception as e:  # noqa: BLE001 - reported to the user
        return (
            "tts espeak",
            "missing",
            f"espeak-ng failed to load ({e}): pip install espeakng-loader",
        )
    langs = len({v.language for v in voices})
    return ("tts espeak", "ok", f"espeak-ng (embedded): {len(voices)} voices in {langs} languages")


def _piper_line(settings: Settings, choice: str) -> tuple[str, str, str]:
    voices_dir = piper_voices_dir(settings)
    if choice not in ("auto", PIPER):
        return ("tts piper", "info", f"not used (PARLEY_TTS={choice})")
    try:
        bundled = piper_engine.bundled_voice()
    except TTSError as e:
        return ("tts piper", "missing", e.message)
    found = [*([bundled] if bundled else []), *piper_engine.find_voices(voices_dir)]
    installed = piper_engine.piper_installed()
    if found and installed:
        names = ", ".join(v.voice_id for v in found)
        return ("tts piper", "ok", f"{len(found)} voice(s) (bundled, and {voices_dir}): {names}")
    status = "missing" if choice == PIPER or found else "info"
    if found:
        return ("tts piper", status, f"{len(found)} voice(s) in {voices_dir}, {INSTALL_HINT}")
    extra = "" if installed else f" ({INSTALL_HINT} too)"
    return ("tts piper", status, f"no voices in {voices_dir}: {_PULL_HINT}{extra}")


def _openai_line(settings: Settings, choice: str) -> tuple[str, str, str]:
    if choice not in ("auto", OPENAI):
        return ("tts openai", "info", f"not used (PARLEY_TTS={choice})")
    if not settings.tts_base_url:
        status = "missing" if choice == OPENAI else "info"
        return ("tts openai", status, f"not configured: {_BASE_URL_HINT}")
    voices = ", ".join(tts_voice_names(settings)) or "(none: set PARLEY_TTS_VOICES)"
    key = "with" if settings.tts_api_key else "without"
    return (
        "tts openai",
        "ok",
        f"{settings.tts_base_url} model {settings.tts_model}, {key} API key, voices: {voices}",
    )
