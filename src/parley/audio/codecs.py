"""Wire encodings of the audio stream: 16-bit PCM, G.711 mu-law and A-law, and Opus.

A stream's format is (encoding, sample_rate). Each binary WebSocket message holds
audio in that format; a codec turns one message into int16 mono samples at the
stream's rate (`decode`) and samples back into messages (`encode`, `flush`).
Use one codec object per stream, for both directions: the Opus codec keeps
decoder and encoder state between calls.

- ``pcm16``: little-endian signed 16-bit. A message with an odd byte count is
  rejected, not carried over: WebSocket messages are framed, so a client never
  needs to split a sample, and an odd length nearly always means the client is
  sending some other encoding than it declared; failing loudly beats playing noise.
- ``mulaw``: G.711 mu-law, one byte per sample, through lookup tables
  (bit-exact with the ITU reference and Python's old ``audioop``).
- ``alaw``: G.711 A-law, one byte per sample, through lookup tables (bit-exact with
  Sun's reference g711.c). Offered by the Deepgram Voice Agent transport; the native
  stream's `ENCODINGS` do not list it.
- ``opus``: one raw Opus packet per message (no Ogg/WebM container), mono,
  20 ms frames when encoding; any valid packet duration when decoding. Encoding
  buffers partial frames between calls; `flush` pads the last one with silence.
  libopus (bundled in PyAV) encodes at the stream rate. FFmpeg's Opus decoders
  always output 48 kHz, so decoded audio goes through libswresample, which keeps
  a steady 20 ms out per 20 ms in after holding back 16 samples of the first
  packet (soxr's stream mode, as in resample.py, releases output in bursts).
  End to end, encode → decode delays audio by libopus' 6.5 ms look-ahead.

Cost per 20 ms frame of espeak-ng speech (median of 5 passes over 233 frames, one
call per frame, on the 2-core dev box under load average ~3; PyAV 18.1, libopus
bundled with it):

=========  ========  ========
stream     encode    decode
=========  ========  ========
pcm16      0.3 us    0.6 us
mulaw 8k   1.4 us    1.3 us
mulaw 48k  3.1 us    3.0 us
opus 8k    87 us     26 us
opus 16k   168 us    34 us
opus 24k   190 us    41 us
opus 48k   197 us    56 us
=========  ========  ========

Creating an OpusCodec (both contexts) costs ~0.1 ms. So Opus encoding takes ~1% of
real time per stream (about 100 concurrent 48 kHz output streams per core), all of
it inline on the event loop in 0.2 ms slices; pcm16 and mu-law are free. Under that
load single calls reached a few ms at p99, most likely the other processes on the
box preempting; not re-measured on an idle machine.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Protocol

import av
import numpy as np
from av.error import FFmpegError

from parley.audio.frames import FrameBuffer

ENCODINGS: tuple[str, ...] = ("pcm16", "mulaw", "opus")
SAMPLE_RATES: tuple[int, ...] = (8000, 16000, 24000, 48000)

OPUS_FRAME_MS = 20
_OPUS_DECODER_RATE = 48000  # what FFmpeg's opus/libopus decoders always produce
# VBR targets for mono speech at each stream rate (libopus defaults to 64 kbit/s).
_OPUS_BIT_RATE = {8000: 16000, 16000: 24000, 24000: 32000, 48000: 32000}


class CodecError(ValueError):
    """Audio that cannot be decoded or a stream format that is not supported."""


class Codec(Protocol):
    encoding: str
    sample_rate: int

    def decode(self, message: bytes) -> np.ndarray:
        """One binary message → int16 mono samples at `sample_rate`."""
        ...

    def encode(self, samples: np.ndarray) -> list[bytes]:
        """int16 mono samples at `sample_rate` → zero or more binary messages."""
        ...

    def flush(self) -> list[bytes]:
        """Messages for whatever audio `encode` still holds (end of a reply)."""
        ...


class Pcm16Codec:
    encoding = "pcm16"

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = _check_rate(sample_rate)

    def decode(self, message: bytes) -> np.ndarray:
        if len(message) % 2:
            raise CodecError(
                f"pcm16 message has an odd number of bytes ({len(message)}); "
                "each sample is 2 bytes, little-endian"
            )
        return np.frombuffer(message, dtype="<i2").astype(np.int16)

    def encode(self, samples: np.ndarray) -> list[bytes]:
        samples = _check_samples(samples)
        return [samples.astype("<i2", copy=False).tobytes()] if len(samples) else []

    def flush(self) -> list[bytes]:
        return []


def _mulaw_decode_table() -> np.ndarray:
    """int16 value of each of the 256 mu-law bytes (G.711, as in Sun's g711.c)."""
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return np.where(u & 0x80, 0x84 - t, t - 0x84).astype(np.int16)


def _mulaw_encode_table() -> np.ndarray:
    """mu-law byte for every int16 sample, indexed by the sample's uint16 bit pattern."""
    pcm = np.arange(65536, dtype=np.uint16).view(np.int16).astype(np.int32) >> 2  # 14-bit
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(pcm), 8159) + (0x84 >> 2)
    segment_ends = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
    segment = np.searchsorted(segment_ends, magnitude, side="left")
    code = np.where(segment >= 8, 0x7F, (segment << 4) | ((magnitude >> (segment + 1)) & 0x0F))
    return (code ^ mask).astype(np.uint8)


_MULAW_TO_PCM = _mulaw_decode_table()
_PCM_TO_MULAW = _mulaw_encode_table()


class MulawCodec:
    encoding = "mulaw"

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = _check_rate(sample_rate)

    def decode(self, message: bytes) -> np.ndarray:
        return _MULAW_TO_PCM[np.frombuffer(message, dtype=np.uint8)]

    def encode(self, samples: np.ndarray) -> list[bytes]:
        samples = _check_samples(samples)
        return [_PCM_TO_MULAW[samples.view(np.uint16)].tobytes()] if len(samples) else []

    def flush(self) -> list[bytes]:
        return []


def _alaw_decode_table() -> np.ndarray:
    """int16 value of each of the 256 A-law bytes (G.711, as in Sun's g711.c)."""
    a = np.arange(256, dtype=np.int32) ^ 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    t = np.where(
        seg == 0, t + 8, np.where(seg == 1, t + 0x108, (t + 0x108) << np.maximum(seg - 1, 0))
    )
    return np.where(a & 0x80, t, -t).astype(np.int16)


def _alaw_encode_table() -> np.ndarray:
    """A-law byte for every int16 sample, indexed by the sample's uint16 bit pattern."""
    pcm = np.arange(65536, dtype=np.uint16).view(np.int16).astype(np.int32) >> 3  # 13-bit
    mask = np.where(pcm >= 0, 0xD5, 0x55)
    magnitude = np.where(pcm >= 0, pcm, -pcm - 1)
    segment_ends = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])
    segment = np.searchsorted(segment_ends, magnitude, side="left")
    shift = np.where(segment < 2, 1, segment)
    code = np.where(segment >= 8, 0x7F, (segment << 4) | ((magnitude >> shift) & 0x0F))
    return (code ^ mask).astype(np.uint8)


_ALAW_TO_PCM = _alaw_decode_table()
_PCM_TO_ALAW = _alaw_encode_table()


class AlawCodec:
    encoding = "alaw"

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = _check_rate(sample_rate)

    def decode(self, message: bytes) -> np.ndarray:
        return _ALAW_TO_PCM[np.frombuffer(message, dtype=np.uint8)]

    def encode(self, samples: np.ndarray) -> list[bytes]:
        samples = _check_samples(samples)
        return [_PCM_TO_ALAW[samples.view(np.uint16)].tobytes()] if len(samples) else []

    def flush(self) -> list[bytes]:
        return []


class OpusCodec:
    encoding = "opus"

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = _check_rate(sample_rate)
        self.frame_samples = sample_rate * OPUS_FRAME_MS // 1000
        self._pending = FrameBuffer(self.frame_samples)
        self._pts = 0

        self._decoder = av.CodecContext.create("opus", "r")
        self._decoder.sample_rate = _OPUS_DECODER_RATE
        self._decoder.layout = "mono"  # stereo packets are downmixed
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=sample_rate)

        self._encoder = av.CodecContext.create("libopus", "w")
        self._encoder.sample_rate = sample_rate
        self._encoder.layout = "mono"
        self._encoder.format = "s16"
        self._encoder.time_base = Fraction(1, sample_rate)
        self._encoder.bit_rate = _OPUS_BIT_RATE[sample_rate]
        self._encoder.options = {"application": "voip", "frame_duration": str(OPUS_FRAME_MS)}
        self._encoder.open()

    def decode(self, message: bytes) -> np.ndarray:
        # An empty packet would put the FFmpeg decoder into draining mode for good.
        if not message:
            raise CodecError("empty Opus packet")
        try:
            frames = self._decoder.decode(av.Packet(bytes(message)))
            out = [f for frame in frames for f in self._resampler.resample(frame)]
        except (FFmpegError, ValueError) as e:
            raise CodecError(f"invalid Opus packet ({len(message)} bytes): {e}") from e
        if not out:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate([f.to_ndarray().reshape(-1) for f in out]).astype(np.int16)

    def encode(self, samples: np.ndarray) -> list[bytes]:
        self._pending.push(_check_samples(samples))
        return [packet for frame in self._pending.pop_all() for packet in self._encode(frame)]

    def flush(self) -> list[bytes]:
        """Encode the buffered partial frame, padded with silence.

        The encoder itself is not drained: the stream goes on after a reply, and
        a drained FFmpeg encoder cannot be used again. So when the padding is
        shorter than libopus' 6.5 ms look-ahead (or the reply filled its last
        frame exactly), the last few ms of the reply leave with the next packet.
        TTS audio ends in silence, so nothing audible waits.
        """
        frame = self._pending.flush(pad=True)
        return [] if frame is None else self._encode(frame)

    def _encode(self, frame: np.ndarray) -> list[bytes]:
        av_frame = av.AudioFrame.from_ndarray(frame.reshape(1, -1), format="s16", layout="mono")
        av_frame.sample_rate = self.sample_rate
        av_frame.pts = self._pts
        self._pts += len(frame)
        return [bytes(packet) for packet in self._encoder.encode(av_frame)]


_CODECS: dict[str, type[Pcm16Codec] | type[MulawCodec] | type[AlawCodec] | type[OpusCodec]] = {
    "pcm16": Pcm16Codec,
    "mulaw": MulawCodec,
    "alaw": AlawCodec,
    "opus": OpusCodec,
}


def make_codec(encoding: str, sample_rate: int) -> Codec:
    """The codec for a stream format; CodecError if the format is not supported."""
    if encoding not in _CODECS:
        raise CodecError(f"unsupported encoding {encoding!r}; expected one of {list(_CODECS)}")
    return _CODECS[encoding](sample_rate)


def _check_rate(sample_rate: int) -> int:
    if type(sample_rate) is not int or sample_rate not in SAMPLE_RATES:
        raise CodecError(
            f"unsupported sample rate {sample_rate!r}; expected one of {list(SAMPLE_RATES)}"
        )
    return sample_rate


def _check_samples(samples: np.ndarray) -> np.ndarray:
    if samples.ndim != 1 or samples.dtype != np.int16:
        raise CodecError(f"expected 1-D int16 samples, got {samples.dtype} {samples.shape}")
    return samples
