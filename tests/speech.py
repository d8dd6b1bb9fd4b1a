"""Test speech, synthesized by Parley's own TTS (espeak-ng), and the project's recordings
(`tests/data/speech/`, public domain: see the README there)."""

from __future__ import annotations

import subprocess
import sys
import wave
from functools import lru_cache
from pathlib import Path

import numpy as np

from parley.audio.resample import resample
from parley.providers.tts.espeak import EspeakTTS

TESTDATA = Path(__file__).resolve().parent / "data"
SPACEWALK = TESTDATA / "speech" / "spacewalk-interview.wav"
JFK = TESTDATA / "speech" / "jfk.flac"


_SYNTH = (
    "import sys; from parley.providers.tts.espeak import EspeakTTS; "
    "sys.stdout.buffer.write(EspeakTTS().synthesize_blocking(sys.argv[1], sys.argv[2]).tobytes())"
)


@lru_cache(maxsize=128)
def _speak(text: str, voice: str, rate: int) -> bytes:
    # libespeak-ng carries state from one synthesis to the next (the same text comes out
    # slightly differently each time), so each test utterance is synthesized by a fresh
    # process: the same words are the same audio in every run, whatever ran before.
    out = subprocess.run(
        [sys.executable, "-c", _SYNTH, text, voice], capture_output=True, check=True, timeout=60
    ).stdout
    samples = np.frombuffer(out, dtype=np.int16)
    return resample(samples, EspeakTTS.SAMPLE_RATE, rate).tobytes()


def speak(text: str, voice: str = "espeak-en-us-male", rate: int = 16000) -> np.ndarray:
    """`text` spoken by espeak-ng, as mono int16 samples at `rate`."""
    return np.frombuffer(_speak(text, voice, rate), dtype=np.int16).copy()


def silence(seconds: float, rate: int = 16000) -> np.ndarray:
    return np.zeros(int(seconds * rate), dtype=np.int16)


def read_wav(path: Path, rate: int = 16000) -> np.ndarray:
    """A mono WAV file as int16 samples at `rate`."""
    with wave.open(str(path), "rb") as w:
        data = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
        if w.getnchannels() > 1:
            data = data.reshape(-1, w.getnchannels()).mean(axis=1).astype(np.int16)
        return resample(data, w.getframerate(), rate)


def read_audio(path: Path, rate: int = 16000) -> np.ndarray:
    """Any file PyAV (FFmpeg) decodes, e.g. FLAC, as mono int16 samples at `rate`."""
    import av

    chunks = []
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
    return np.concatenate(chunks).astype(np.int16)
