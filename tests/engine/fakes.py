"""Providers with fixed answers, for turn-taking tests that must not depend on what a
real model makes of a clip.

The turn model is the one real provider whose output differs between machines: Smart
Turn v3.2 is an int8-quantised ONNX model, and its score for the same espeak-ng clip
moved from below 0.5 to 0.87 between two CPUs (their int8 kernels differ). A test about
what the *policy* does with a confident or an unsure model gives it `FixedTurnModel`.
"""

from __future__ import annotations

import numpy as np


class FixedTurnModel:
    """A `TurnModel` that is always as sure as it is told; counts its calls."""

    def __init__(self, probability: float) -> None:
        self.probability = probability
        self.calls = 0

    def predict(self, audio: np.ndarray) -> float:
        self.calls += 1
        return self.probability
