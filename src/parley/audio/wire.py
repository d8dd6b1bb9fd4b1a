"""A stream's audio as its wire carries it, both ways, for any transport.

In: binary messages in the stream's encoding and rate → 16 kHz mono PCM for the engine.
Out: reply audio at the TTS's own rate → messages in the stream's encoding and rate. The
engine says when a reply's audio ends (`end`): played to the end, whatever the resampler
and the codec still hold goes out (an Opus reply's last partial frame, padded); cut
short, it is dropped, so nothing of a cut reply leaves with the next one.
"""

from __future__ import annotations

import numpy as np

from parley.audio.codecs import Codec, make_codec
from parley.audio.resample import StreamResampler

ENGINE_RATE = 16000  # what the listener (Silero VAD, STT) hears


class WireAudio:
    def __init__(self, encoding: str, sample_rate: int) -> None:
        self.codec: Codec = make_codec(encoding, sample_rate)
        self.sample_rate = sample_rate
        self._in = StreamResampler(sample_rate, ENGINE_RATE)
        self._out: StreamResampler | None = None

    def decode(self, message: bytes) -> np.ndarray:
        """One binary message → 16 kHz int16 samples (CodecError if it is not audio)."""
        return self._in.process(self.codec.decode(message))

    def encode(self, samples: np.ndarray, sample_rate: int) -> list[bytes]:
        """Reply audio at `sample_rate` → messages for the wire."""
        out: list[bytes] = []
        if self._out is None or self._out.in_rate != sample_rate:
            out = self._flush_resampler()
            self._out = StreamResampler(sample_rate, self.sample_rate)
        return out + self.codec.encode(self._out.process(samples))

    def end(self, cut: bool) -> list[bytes]:
        """The reply's audio is over: flush what is held (played out) or drop it (cut)."""
        if cut:
            self._out = None
            self.codec.flush()  # the partial frame of a cut reply is not sent
            return []
        return self._flush_resampler() + self.codec.flush()

    def _flush_resampler(self) -> list[bytes]:
        if self._out is None:
            return []
        tail = self._out.process(np.zeros(0, dtype=np.int16), last=True)
        self._out = None
        return self.codec.encode(tail) if tail.size else []
