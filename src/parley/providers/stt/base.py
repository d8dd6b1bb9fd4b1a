"""The speech-to-text provider interface.

A provider is shared by the whole server; each conversation opens one stream and
keeps it for the session. Within a stream, utterances follow each other:

    feed() feed() feed() ... finish() -> "text"   feed() feed() ... finish() -> "text"
    |<---- partial() / on_partial ---->|          |<---- partial() ---->|

`feed()` is called on the event loop as audio arrives and must return at once:
implementations only queue the samples. Decoding happens elsewhere (a worker
process, a thread, a remote server).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

SAMPLE_RATE = 16000  # every stream takes mono int16 at this rate


class STTError(RuntimeError):
    """A speech-to-text failure, with a stable `code` for stream error messages.

    Codes: `stt_unavailable` (engine or extra not installed), `stt_model_missing`,
    `stt_misconfigured`, `stt_unsupported_language`, `stt_worker_crashed`,
    `stt_timeout`, `stt_unreachable`, `stt_auth`, `stt_remote_error`, `stt_cancelled`,
    `stt_closed`.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


@dataclass(frozen=True)
class Transcript:
    """A transcript of the utterance in progress (`final=False`) or of a finished one."""

    text: str
    final: bool = False


PartialCallback = Callable[[Transcript], None]
"""Called on the event loop whenever the interim transcript changes. Must not block."""


def primary_language(tag: str) -> str:
    """The ISO 639-1 part of a language tag: `en-US` -> `en`, `pt_BR` -> `pt`."""
    return tag.replace("_", "-").split("-", 1)[0].strip().lower()


class STTStream(Protocol):
    @property
    def interim(self) -> bool:
        """Whether `partial()` follows the speech as it comes (interim words). When
        False, `partial()` stays empty and end of turn cannot read the words so far."""
        ...

    def feed(self, samples: np.ndarray) -> None:
        """Queue mono int16 16 kHz samples. Never blocks; errors surface in `finish()`."""
        ...

    def partial(self) -> str:
        """The best transcript of the current utterance so far (may lag the audio)."""
        ...

    async def finish(self) -> str:
        """The final transcript of everything fed since open or the last finish/cancel.

        The stream is then ready for the next utterance.
        """
        ...

    async def cancel(self) -> None:
        """Drop the current utterance; the stream stays usable."""
        ...

    async def close(self) -> None:
        """Release the stream. Idempotent."""
        ...


class STTProvider(Protocol):
    name: str
    languages: frozenset[str] | None  # ISO 639-1 codes handled; None = many / unknown

    def supports(self, language: str) -> bool: ...

    async def open(self, language: str, on_partial: PartialCallback | None = None) -> STTStream:
        """A new stream for one conversation. Raises `STTError` if it cannot be served."""
        ...

    async def close(self) -> None:
        """Shut the provider down (worker processes, clients, models)."""
        ...


def supports_language(languages: frozenset[str] | None, language: str) -> bool:
    """Shared `supports()` logic: None means the provider takes any language."""
    return languages is None or primary_language(language) in languages


def check_samples(samples: np.ndarray) -> np.ndarray:
    """The samples as a flat int16 array; anything else is a caller bug."""
    if samples.dtype != np.int16:
        raise TypeError(f"STT streams take int16 samples, got {samples.dtype}")
    return samples.reshape(-1)
