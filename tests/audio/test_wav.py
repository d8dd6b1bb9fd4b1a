"""WAV helpers: round trips, sample widths, downmixing, resampling, bad files."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np
import pytest

from parley.audio.resample import resample
from parley.audio.wav import read_wav, wav_bytes, write_wav
from tests.speech import speak

SPEECH = "Thanks, that is all I needed."


def raw_wav(frames: bytes, *, width: int, channels: int, rate: int) -> io.BytesIO:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(frames)
    buf.seek(0)
    return buf


def test_file_round_trip_is_exact(tmp_path: Path) -> None:
    speech = speak(SPEECH, rate=24000)
    path = tmp_path / "reply.wav"
    write_wav(path, speech, 24000)
    samples, rate = read_wav(path)
    assert rate == 24000 and samples.dtype == np.int16
    np.testing.assert_array_equal(samples, speech)
    with wave.open(str(path)) as w:  # a plain 16-bit mono file
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 24000)


def test_wav_bytes_round_trip() -> None:
    speech = speak(SPEECH)
    data = wav_bytes(speech, 16000)
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    assert len(data) == 44 + 2 * len(speech)
    samples, rate = read_wav(io.BytesIO(data))
    assert rate == 16000
    np.testing.assert_array_equal(samples, speech)


def test_read_resamples_on_request(tmp_path: Path) -> None:
    speech = speak(SPEECH, rate=48000)
    write_wav(tmp_path / "a.wav", speech, 48000)
    samples, rate = read_wav(str(tmp_path / "a.wav"), rate=16000)
    assert rate == 16000
    np.testing.assert_array_equal(samples, resample(speech, 48000, 16000))
    same, rate = read_wav(tmp_path / "a.wav", rate=48000)
    assert rate == 48000
    np.testing.assert_array_equal(same, speech)


def test_stereo_is_downmixed_by_averaging() -> None:
    left = speak(SPEECH)
    right = (left // 2).astype(np.int16)
    stereo = np.stack([left, right], axis=1).astype("<i2").tobytes()
    samples, _ = read_wav(raw_wav(stereo, width=2, channels=2, rate=16000))
    expected = np.round((left.astype(np.float64) + right) / 2).astype(np.int16)
    np.testing.assert_array_equal(samples, expected)


def test_other_sample_widths() -> None:
    values = np.array([-32768, -256, -1, 0, 1, 256, 32767], dtype=np.int16)
    as_int32 = values.astype(np.int32) << 16
    pcm24 = b"".join(int(v).to_bytes(4, "little", signed=True)[1:] for v in as_int32)
    samples, _ = read_wav(raw_wav(pcm24, width=3, channels=1, rate=8000))
    np.testing.assert_array_equal(samples, values)

    pcm32 = as_int32.astype("<i4").tobytes()
    samples, _ = read_wav(raw_wav(pcm32, width=4, channels=1, rate=8000))
    np.testing.assert_array_equal(samples, values)

    pcm8 = bytes([0, 127, 128, 129, 255])  # unsigned, 128 is zero
    samples, _ = read_wav(raw_wav(pcm8, width=1, channels=1, rate=8000))
    np.testing.assert_array_equal(samples, [-32768, -256, 0, 256, 32512])


def test_not_a_wav_file(tmp_path: Path) -> None:
    path = tmp_path / "noise.wav"
    path.write_bytes(b"ID3\x03" + bytes(100))
    with pytest.raises(ValueError, match="noise.wav"):
        read_wav(path)
    with pytest.raises(ValueError, match="WAV"):
        read_wav(io.BytesIO(b""))


def test_write_refuses_non_int16() -> None:
    with pytest.raises(ValueError, match="int16"):
        wav_bytes(np.zeros(10, dtype=np.float32), 16000)
