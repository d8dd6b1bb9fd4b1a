"""The end-of-turn model interface."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class TurnModel(Protocol):
    """Says how likely it is that the user has finished their turn.

    `predict` is CPU-bound (tens of milliseconds) and blocking: call it from an executor,
    never on the event loop.
    """

    def predict(self, audio: np.ndarray) -> float:
        """Probability (0..1) that the turn is complete, given the turn's audio so far
        (mono int16 at 16 kHz, ending now)."""
        ...
