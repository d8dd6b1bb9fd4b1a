"""faster-whisper (CTranslate2 Whisper): the default recogniser, streaming, offline.

The model (`PARLEY_WHISPER_MODEL`, see `whisper_models.py`; default the bundled tiny.en)
loads once per process, on first use, and is shared by every stream: one copy of the
weights, decoded by a small pool of threads (`whisper_decode.py`). Each conversation's
stream decodes its growing utterance while the user speaks (`whisper_stream.py`), so
the final transcript is ready, or nearly, when the turn ends.

The languages offered follow the model: an English-only model (`*.en`, such as the
bundled tiny.en) handles English only, and other languages are refused when a
conversation is created, with the way to enable them (`OTHER_LANGUAGES`).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import numpy as np

from parley.providers.stt.base import (
    PartialCallback,
    STTError,
    primary_language,
    supports_language,
)
from parley.providers.stt.whisper_decode import Decoded, DecodePool, WhisperDecoder
from parley.providers.stt.whisper_models import (
    DEFAULT_MODEL,
    INSTALL_HINT,
    default_models_dir,
    is_multilingual,
    local_model,
    pull_whisper_model,
    repo_for,
    resolve_model,
    whisper_installed,
)
from parley.providers.stt.whisper_stream import WhisperStream

__all__ = [
    "DEFAULT_MODEL",
    "INSTALL_HINT",
    "OTHER_LANGUAGES",
    "WhisperSTT",
    "WhisperStream",
    "local_model",
    "pull_whisper_model",
    "repo_for",
    "whisper_installed",
]

OTHER_LANGUAGES = (
    "the loaded Whisper model is English-only; for other languages pull a multilingual "
    "one and select it: `parley models pull whisper-small` then PARLEY_WHISPER_MODEL=small "
    "(or PARLEY_WHISPER_MODEL=/path/to/ctranslate2-model)"
)

# One decoder per model directory and process: every provider built in this process
# (tests build several) shares the weights.
_decoders: dict[Path, WhisperDecoder] = {}


class WhisperSTT:
    """Streaming faster-whisper on the CPU (int8)."""

    name = "whisper"

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        models_dir: Path | None = None,
        threads: int | None = None,
        interval: float = 1.0,  # s of new audio between interim decodes
    ) -> None:
        self.model = model
        self.models_dir = models_dir or default_models_dir()
        self.threads = max(1, threads or os.cpu_count() or 1)
        self.interval = interval
        # Found and checked now (a changed bundled file stops the server at start-up);
        # loaded on first use.
        self.path, self.source = resolve_model(model, self.models_dir)
        english_only = not is_multilingual(self.path)
        # None: ~100 languages
        self.languages: frozenset[str] | None = frozenset({"en"}) if english_only else None
        self.other_languages_hint = OTHER_LANGUAGES if english_only else ""
        self._decoder: WhisperDecoder | None = None
        self._pool: DecodePool | None = None
        self._load_lock = asyncio.Lock()

    def supports(self, language: str) -> bool:
        return supports_language(self.languages, language)

    @property
    def pool(self) -> DecodePool:
        assert self._pool is not None, "load() first"
        return self._pool

    async def load(self) -> None:
        """Load (and check) the model in a thread. Raises STTError saying what to do."""
        async with self._load_lock:
            if self._decoder is not None:
                return
            self._decoder = await asyncio.to_thread(self._load_blocking)
            self._pool = self._pool or DecodePool(self.threads)

    def _load_blocking(self) -> WhisperDecoder:
        if not whisper_installed():
            raise STTError("stt_unavailable", f"faster-whisper is not installed: {INSTALL_HINT}")
        path = self.path
        key = path.resolve()
        if key not in _decoders:
            try:
                _decoders[key] = WhisperDecoder(path, self.threads)
            except Exception as exc:  # a broken model directory
                raise STTError(
                    "stt_model_missing", f"cannot load the faster-whisper model at {path}: {exc}"
                ) from exc
        return _decoders[key]

    def decode(
        self,
        samples: np.ndarray,
        language: str | None,
        prefix: str = "",
        final: bool = False,
        previous: str = "",
    ) -> Decoded:
        """One decode (blocking; called on the pool's threads)."""
        assert self._decoder is not None
        return self._decoder.decode(samples, language, prefix, final, previous)

    async def open(self, language: str, on_partial: PartialCallback | None = None) -> WhisperStream:
        if not self.supports(language):
            raise STTError(
                "stt_unsupported_language",
                f"Whisper model {self.model} does not handle {language!r}: "
                + self.other_languages_hint,
            )
        await self.load()
        lang = primary_language(language) if language and language != "auto" else None
        return WhisperStream(self, lang, on_partial)

    async def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        self._decoder = None
