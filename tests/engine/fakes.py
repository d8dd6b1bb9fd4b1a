"""Providers with fixed answers, for turn-taking tests that must not depend on what a
real model makes of a clip.

The turn model is the one real provider whose output differs between machines: Smart
Turn v3.2 is an int8-quantised ONNX model, and its score for the same espeak-ng clip
moved from below 0.5 to 0.87 between two CPUs (their int8 kernels differ). A test about
what the *policy* does with a confident or an unsure model gives it `FixedTurnModel`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

import numpy as np

P = TypeVar("P")


class FixedTurnModel:
    """A `TurnModel` that is always as sure as it is told; counts its calls."""

    def __init__(self, probability: float) -> None:
        self.probability = probability
        self.calls = 0

    def predict(self, audio: np.ndarray) -> float:
        self.calls += 1
        return self.probability


# --- a voice and a recogniser that need no model ----------------------------------------

VOICED = 3000  # amplitude of the fakes' "speech": a frame this loud is voice


def voice(seconds: float) -> np.ndarray:
    """Audio `FakeVAD` hears as voice (a 220 Hz tone)."""
    t = np.arange(int(seconds * 16000)) / 16000
    return (VOICED * np.sin(2 * np.pi * 220 * t)).astype(np.int16)


class FakeVADStream:
    def probability(self, frame: np.ndarray) -> float:
        rms = float(np.sqrt(np.mean(frame.astype(np.float64) ** 2)))
        return 0.95 if rms > VOICED / 4 else 0.02


class FakeVAD:
    """Stands for `SileroVAD`: loud frames are voice, quiet ones silence."""

    def stream(self, silence_peak: int = 4, reset_interval_ms: int = 2000) -> FakeVADStream:
        return FakeVADStream()


class FakeSTTStream:
    """Hears, for each utterance, the next of the texts it was told to (`FakeSTT.say`):
    its words appear in `partial()` one per 200 ms of audio fed, all of them at `finish()`."""

    interim = True

    def __init__(self, script: list[str]) -> None:
        self._script = script
        self._fed = 0

    def _text(self) -> str:
        return self._script[0] if self._script else ""

    def feed(self, samples: np.ndarray) -> None:
        self._fed += samples.size

    def partial(self) -> str:
        words = self._text().split()
        return " ".join(words[: int(self._fed / 16000 / 0.2)])

    async def finish(self) -> str:
        self._fed = 0
        return self._script.pop(0) if self._script else ""

    async def cancel(self) -> None:
        self._fed = 0
        if self._script:
            self._script.pop(0)

    async def close(self) -> None:
        return None


class FakeSTT:
    name = "fake"
    languages = frozenset({"en"})

    def __init__(self) -> None:
        self.script: list[str] = []

    def say(self, *texts: str) -> None:
        """What the next utterances will be heard as, in order."""
        self.script.extend(texts)

    def supports(self, language: str) -> bool:
        return language == "en"

    async def open(self, language: str, on_partial: object = None) -> FakeSTTStream:
        return FakeSTTStream(self.script)

    async def close(self) -> None:
        return None


async def _no_barrier() -> None:
    return None


def on_fake_ears(providers: P, stt: Any) -> P:
    """The module's providers with `FakeVAD` and the fake recogniser `stt` (no barrier:
    a fake decodes at once)."""
    return dataclasses.replace(  # type: ignore[type-var]
        providers, vad=FakeVAD(), stt=stt, stt_barrier=_no_barrier
    )
