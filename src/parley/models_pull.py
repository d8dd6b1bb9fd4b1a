"""`parley models pull NAME`: download an optional model into the data directory.

    piper-<voice>     a Piper voice into <data_dir>/models/piper/ (or PARLEY_PIPER_VOICES_DIR),
                      e.g. piper-en_US-lessac-medium
    whisper-<size>    a faster-whisper model into <data_dir>/models/whisper/, e.g. whisper-base
    llm-<name>        a GGUF for the embedded LLM into <data_dir>/models/llm/, e.g.
                      llm-qwen2.5-1.5b-instruct (run it with PARLEY_LLM_GGUF=<path>)

Failures end the command with a clear message, never a traceback: `UnknownModel` (a
`typer.BadParameter`, and a ValueError) for a name Parley cannot pull, which Typer prints
with the usage line (exit 2); `PullError` (a `typer.Exit`, exit 1) otherwise, its message
printed to stderr by `pull` as it is raised.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import typer

from parley.config import Settings
from parley.providers.stt.base import STTError
from parley.providers.tts.errors import TTSError
from parley.providers.tts.factory import piper_voices_dir
from parley.providers.tts.piper import CATALOGUE_URL, pull_piper_voice

PULLABLE = (
    "piper-<voice> (e.g. piper-en_US-lessac-medium; all voices: "
    f"{CATALOGUE_URL}) or whisper-<size> (e.g. whisper-base)"
    " or llm-<name> (a GGUF: llm-qwen2.5-0.5b-instruct, llm-qwen2.5-1.5b-instruct, "
    "llm-llama-3.2-1b-instruct)"
)
_WHISPER_MODULE = "parley.providers.stt.whisper"


class PullError(typer.Exit):
    """A pull that failed; `message` says why and what to do instead."""

    def __init__(self, message: str) -> None:
        super().__init__(code=1)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UnknownModel(typer.BadParameter, ValueError):
    """A NAME that is not something Parley can pull."""

    def __init__(self, message: str) -> None:
        super().__init__(message, param_hint="NAME")


def pull(name: str, settings: Settings) -> Path:
    """Download model `name`; the path of the model on disk."""
    try:
        return _pull(name.strip(), settings)
    except PullError as e:
        typer.echo(f"Error: {e.message}", err=True)
        raise


def _pull(name: str, settings: Settings) -> Path:
    kind, _, rest = name.partition("-")
    if kind == "piper" and rest:
        return _pull_piper(rest, settings)
    if kind == "whisper" and rest:
        return _pull_whisper(rest, settings)
    if kind == "llm" and rest:
        return _pull_llm(rest, settings)
    raise UnknownModel(f"cannot pull {name!r}: Parley can pull {PULLABLE}")


def _pull_piper(voice: str, settings: Settings) -> Path:
    try:
        return pull_piper_voice(voice, piper_voices_dir(settings))
    except ValueError as e:
        raise UnknownModel(str(e)) from e
    except TTSError as e:
        raise PullError(e.message) from e


def _pull_whisper(size: str, settings: Settings) -> Path:
    try:
        module = importlib.import_module(_WHISPER_MODULE)
    except ModuleNotFoundError as e:
        if e.name == _WHISPER_MODULE:
            raise PullError(
                "this build of Parley has no faster-whisper speech-to-text provider, "
                "so it cannot pull whisper models"
            ) from e
        raise PullError(
            f"whisper models need faster-whisper ({e}): pip install 'parley-voice[whisper]'"
        ) from e
    dest = settings.data_dir / "models" / "whisper"
    try:
        return Path(module.pull_whisper_model(size, dest))
    except ValueError as e:
        raise UnknownModel(str(e)) from e
    except (STTError, TTSError) as e:
        raise PullError(e.message) from e


def _pull_llm(rest: str, settings: Settings) -> Path:
    from parley.providers.llm.gguf_pull import GGUFPullError, pull_gguf

    try:
        path = pull_gguf(rest, settings.data_dir / "models" / "llm")
    except ValueError as e:
        raise UnknownModel(str(e)) from e
    except GGUFPullError as e:
        raise PullError(str(e)) from e
    typer.echo(f"Run it with PARLEY_LLM_GGUF={path}")
    return path
