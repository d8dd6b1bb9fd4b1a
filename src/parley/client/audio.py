"""Audio helpers of the stream: microphone input in, received speech collected.

Input to `send_audio` is either `bytes` (already in the stream's encoding, sent as one
message) or a NumPy array of mono samples at the stream's rate: int16, or float in
[-1, 1]; the SDK encodes those (pcm16, mu-law or Opus).
"""

from __future__ import annotations

import os
import threading
from typing import BinaryIO

import numpy as np

from parley.audio.resample import resample
from parley.audio.wav import read_wav, write_wav

PathOrFile = str | os.PathLike[str] | BinaryIO


def as_int16(samples: np.ndarray) -> np.ndarray:
    """Mono samples as int16 (floats are taken as [-1, 1] and clipped)."""
    array = np.asarray(samples)
    if array.ndim != 1:
        raise ValueError(f"expected mono (1-D) samples, got shape {array.shape}")
    if array.dtype == np.int16:
        return array
    if np.issubdtype(array.dtype, np.floating):
        return np.asarray(np.clip(array, -1.0, 1.0) * 32767.0, dtype=np.int16)
    raise TypeError(f"expected int16 or float samples, got {array.dtype}")


def load_wav(path: PathOrFile, rate: int) -> np.ndarray:
    """A WAV file as int16 mono samples at `rate` (downmixed and resampled)."""
    samples, _ = read_wav(path, rate)
    return samples


def at_rate(samples: np.ndarray, from_rate: int | None, to_rate: int) -> np.ndarray:
    samples = as_int16(samples)
    if from_rate is None or from_rate == to_rate:
        return samples
    return resample(samples, from_rate, to_rate)


class AudioBuffer:
    """The assistant's speech as received (decoded, at the stream's rate). Thread-safe:
    the stream appends on its loop while the application reads."""

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self._chunks: list[np.ndarray] = []
        self._size = 0
        self._lock = threading.Lock()

    def append(self, samples: np.ndarray) -> None:
        with self._lock:
            self._chunks.append(samples)
            self._size += len(samples)

    def samples(self) -> np.ndarray:
        """Everything received so far, as one int16 array."""
        with self._lock:
            if len(self._chunks) > 1:
                self._chunks = [np.concatenate(self._chunks)]
            return self._chunks[0].copy() if self._chunks else np.zeros(0, dtype=np.int16)

    @property
    def seconds(self) -> float:
        return self._size / self.sample_rate

    def clear(self) -> None:
        with self._lock:
            self._chunks = []
            self._size = 0

    def save(self, dest: PathOrFile) -> None:
        """Write what was received as a 16-bit mono WAV file."""
        write_wav(dest, self.samples(), self.sample_rate)
