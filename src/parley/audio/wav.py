"""WAV files in and out, with the stdlib `wave` module.

Reads integer PCM WAV (8, 16, 24 or 32 bit, any channel count) into int16 mono,
downmixing by averaging channels; writes 16-bit mono. Float and compressed WAV
(WAVE_FORMAT_IEEE_FLOAT, A-law, ...) are refused with a ValueError, as are, on
Python 3.11, WAVE_FORMAT_EXTENSIBLE headers (`wave` reads those from 3.12).
"""

from __future__ import annotations

import io
import os
import wave
from typing import BinaryIO

import numpy as np

from parley.audio.resample import resample

WavSource = str | os.PathLike[str] | BinaryIO


def read_wav(source: WavSource, rate: int | None = None) -> tuple[np.ndarray, int]:
    """(int16 mono samples, sample rate) of a WAV file; resampled to `rate` if given."""
    try:
        with wave.open(_open_arg(source), "rb") as w:
            width, channels, file_rate = w.getsampwidth(), w.getnchannels(), w.getframerate()
            raw = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as e:
        raise ValueError(f"{_name(source)}: not a readable PCM WAV file ({e})") from e
    samples = _to_int16(raw, width)
    if channels > 1:
        samples = _downmix(samples, channels)
    if rate is not None and rate != file_rate:
        return resample(samples, file_rate, rate), rate
    return samples, file_rate


def write_wav(dest: WavSource, samples: np.ndarray, rate: int) -> None:
    """Write int16 mono `samples` as a 16-bit mono WAV file."""
    if samples.ndim != 1 or samples.dtype != np.int16:
        raise ValueError(f"expected 1-D int16 samples, got {samples.dtype} {samples.shape}")
    with wave.open(_open_arg(dest), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.astype("<i2", copy=False).tobytes())


def wav_bytes(samples: np.ndarray, rate: int) -> bytes:
    """The bytes of a 16-bit mono WAV file holding `samples`."""
    buf = io.BytesIO()
    write_wav(buf, samples, rate)
    return buf.getvalue()


def _to_int16(raw: bytes, width: int) -> np.ndarray:
    if width == 1:  # unsigned 8-bit
        return ((np.frombuffer(raw, dtype=np.uint8).astype(np.int16) - 128) << 8).astype(np.int16)
    if width == 2:
        return np.frombuffer(raw, dtype="<i2").astype(np.int16)
    if width == 3:  # little-endian 24-bit: build int32 with the sign in bit 31, keep the top 16
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        value = (b[:, 0] << 8) | (b[:, 1] << 16) | (b[:, 2] << 24)
        return (value >> 16).astype(np.int16)
    if width == 4:
        return (np.frombuffer(raw, dtype="<i4") >> 16).astype(np.int16)
    raise ValueError(f"unsupported WAV sample width: {width} bytes")


def _downmix(samples: np.ndarray, channels: int) -> np.ndarray:
    interleaved = samples[: len(samples) - len(samples) % channels].reshape(-1, channels)
    return np.asarray(np.round(interleaved.mean(axis=1)), dtype=np.int16)


def _open_arg(source: WavSource) -> str | BinaryIO:
    return os.fspath(source) if isinstance(source, str | os.PathLike) else source


def _name(source: WavSource) -> str:
    return os.fspath(source) if isinstance(source, str | os.PathLike) else "WAV data"
