"""Fixed-size framing of sample streams.

Audio arrives in chunks of whatever size the client or the TTS chose; models and
codecs want exact frames (Silero VAD: 512 samples at 16 kHz, Opus: 20 ms).
`FrameBuffer` bridges the two for a stream, `split_frames` for one array.

Frames handed out are read-only views of arrays the buffer never writes to again,
so they stay valid after later pushes; copy one before changing it.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Tail = Literal["keep", "pad", "drop"]


def split_frames(
    samples: np.ndarray, frame_samples: int, *, tail: Tail = "keep"
) -> list[np.ndarray]:
    """Cut 1-D `samples` into frames of `frame_samples`.

    The last, shorter piece is returned as is (`tail="keep"`), zero-padded to a
    full frame (`"pad"`), or left out (`"drop"`).
    """
    _check_frame_samples(frame_samples)
    if samples.ndim != 1:
        raise ValueError(f"expected 1-D samples, got shape {samples.shape}")
    full = len(samples) - len(samples) % frame_samples
    frames = [samples[i : i + frame_samples] for i in range(0, full, frame_samples)]
    rest = samples[full:]
    if len(rest) and tail == "keep":
        frames.append(rest)
    elif len(rest) and tail == "pad":
        frames.append(_pad(rest, frame_samples))
    return frames


class FrameBuffer:
    """Push chunks of any size, pop frames of exactly `frame_samples`.

    Usage::

        buf = FrameBuffer(512)
        buf.push(chunk)              # e.g. 320 samples from a 20 ms message
        for frame in buf.pop_all():  # every complete 512-sample frame so far
            vad(frame)
    """

    def __init__(self, frame_samples: int, dtype: type[np.generic] = np.int16) -> None:
        _check_frame_samples(frame_samples)
        self.frame_samples = frame_samples
        self.dtype = np.dtype(dtype)
        self._buf = np.zeros(0, dtype=self.dtype)
        self._pos = 0  # start of the unread part of _buf

    def __len__(self) -> int:
        """Samples buffered and not yet popped."""
        return len(self._buf) - self._pos

    def push(self, samples: np.ndarray) -> None:
        if samples.ndim != 1:
            raise ValueError(f"expected 1-D samples, got shape {samples.shape}")
        if samples.dtype != self.dtype:
            raise TypeError(f"expected {self.dtype} samples, got {samples.dtype}")
        if len(samples):
            self._buf = np.concatenate((self._buf[self._pos :], samples))
            self._buf.flags.writeable = False
            self._pos = 0

    def pop(self) -> np.ndarray | None:
        """The next complete frame, or None while fewer than `frame_samples` are buffered."""
        if len(self) < self.frame_samples:
            return None
        frame = self._buf[self._pos : self._pos + self.frame_samples]
        self._pos += self.frame_samples
        return frame

    def pop_all(self) -> list[np.ndarray]:
        """Every complete frame buffered, oldest first."""
        frames = []
        while (frame := self.pop()) is not None:
            frames.append(frame)
        return frames

    def flush(self, *, pad: bool = True) -> np.ndarray | None:
        """Take the partial frame left over (zero-padded to a full frame if `pad`).

        Returns None when nothing is buffered. Call `pop_all` first: this takes
        whatever is left, which may be more than one frame.
        """
        rest = self._buf[self._pos :]
        self.clear()
        if not len(rest):
            return None
        return _pad(rest, self.frame_samples) if pad else rest

    def clear(self) -> None:
        self._buf = np.zeros(0, dtype=self.dtype)
        self._pos = 0


def _pad(samples: np.ndarray, frame_samples: int) -> np.ndarray:
    short = -len(samples) % frame_samples
    if not short:
        return samples
    return np.concatenate((samples, np.zeros(short, dtype=samples.dtype)))


def _check_frame_samples(frame_samples: int) -> None:
    if frame_samples <= 0:
        raise ValueError(f"frame_samples must be positive, got {frame_samples}")
