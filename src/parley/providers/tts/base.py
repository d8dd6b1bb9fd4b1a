"""The text-to-speech provider interface."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class VoiceInfo:
    """One entry of the voice catalogue (`GET /v1/voices`)."""

    voice_id: str
    name: str
    language: str | None  # ISO 639-1 where one exists; None for multilingual voices
    engine: str
    gender: str | None = None
    locale: str | None = None
    engine_voice: str = ""  # the engine's own name for it


@dataclass(frozen=True)
class TTSChunk:
    """A piece of synthesized speech: mono int16 samples."""

    samples: np.ndarray
    sample_rate: int


class TTSProvider(Protocol):
    name: str

    def voices(self) -> tuple[VoiceInfo, ...]: ...

    def synthesize(self, text: str, voice_id: str) -> AsyncIterator[TTSChunk]:
        """Speech for `text` (one sentence or so), as it becomes available."""
        ...
