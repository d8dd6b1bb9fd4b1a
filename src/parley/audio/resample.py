"""Sample-rate conversion (libsoxr), one-shot and streaming."""

from __future__ import annotations

import numpy as np
import soxr


def resample(samples: np.ndarray, in_rate: int, out_rate: int) -> np.ndarray:
    """Convert mono int16 `samples` from `in_rate` to `out_rate`."""
    if in_rate == out_rate or samples.size == 0:
        return samples.astype(np.int16, copy=False)
    out = soxr.resample(samples.astype(np.int16, copy=False), in_rate, out_rate, quality="HQ")
    return np.asarray(out, dtype=np.int16)


class StreamResampler:
    """Resamples a stream chunk by chunk, keeping the filter state between chunks."""

    def __init__(self, in_rate: int, out_rate: int) -> None:
        self.in_rate = in_rate
        self.out_rate = out_rate
        self._stream = (
            None
            if in_rate == out_rate
            else soxr.ResampleStream(in_rate, out_rate, 1, dtype="int16", quality="HQ")
        )

    def process(self, samples: np.ndarray, last: bool = False) -> np.ndarray:
        samples = samples.astype(np.int16, copy=False)
        if self._stream is None:
            return samples
        return np.asarray(self._stream.resample_chunk(samples, last=last), dtype=np.int16)
