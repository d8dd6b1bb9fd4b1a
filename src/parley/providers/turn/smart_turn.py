"""Smart Turn v3.2 (BSD-2, pipecat-ai): does this audio end a finished turn?

The model is a Whisper-tiny encoder with a classifier head. It reads the last 8 s of the
turn's 16 kHz audio as Whisper log-mel features (80 x 800) and returns the probability
that the speaker is done. Preparation matches the reference (`smart-turn/inference.py`
and pipecat's `LocalSmartTurnAnalyzerV3`) step for step:

1. keep the last 8 s; a shorter turn is zero-padded at the *beginning* to 8 s;
2. `WhisperFeatureExtractor(chunk_length=8)` with `do_normalize=True`: the padded
   waveform is scaled to zero mean / unit variance, then a centred (reflect-padded) STFT
   with a periodic Hann window (n_fft 400, hop 160), power spectrum, Slaney mel filters
   (80 bins, 0-8 kHz), log10 with floor 1e-10, last frame dropped, clamped to max - 8,
   scaled by (x + 4) / 4.

Feature extraction is plain numpy here (no transformers/torch); `tests/providers` checks
it against `transformers.WhisperFeatureExtractor` when that package is installed.

Cost, measured on the 2-core development machine, one intra-op thread: ~38 ms per call
on an idle machine (features ~4 ms, inference ~34 ms); ~90 ms while other processes keep
both cores busy. Two intra-op threads were no faster (slower under load), so the default is
one. Loading the session takes ~50 ms. `predict` blocks: run it in an executor, never on
the event loop. The session is shared by every caller in the process (onnxruntime's `run`
is thread-safe).

Beware (DESIGN.md principle 5), measured here: on espeak-ng speech the score swings
widely (0.05-0.97 for one clip) as 0-100 ms of trailing silence is added, and settles
somewhat from ~200 ms on; it rates many cut-off espeak sentences as complete. On the real
(telephone-band) interview recording it says "not done" at every mid-sentence pause
(0.01-0.3) but also at the true end (0.03 with 200 ms of silence). Trust a low score more
than a high one, and combine it with the words and the silence duration.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path

import numpy as np
import onnxruntime as ort

from parley.providers.models import SMART_TURN, find_model

SAMPLE_RATE = 16000
WINDOW_SECONDS = 8
WINDOW_SAMPLES = WINDOW_SECONDS * SAMPLE_RATE
N_FFT = 400
HOP = 160
N_MELS = 80
N_FRAMES = WINDOW_SAMPLES // HOP  # 800


def last_window(audio: np.ndarray) -> np.ndarray:
    """The last 8 s of int16 `audio` as float32 in [-1, 1), zero-padded in front to 8 s."""
    if audio.ndim != 1:
        raise ValueError(f"expected mono audio, got shape {audio.shape}")
    tail = audio[-WINDOW_SAMPLES:].astype(np.float32) / 32768.0
    out = np.zeros(WINDOW_SAMPLES, dtype=np.float32)
    out[WINDOW_SAMPLES - tail.size :] = tail
    return out


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney mel scale: linear below 1 kHz, logarithmic above."""
    mel = 3.0 * hz / 200.0
    log_part = hz >= 1000.0
    mel[log_part] = 15.0 + np.log(hz[log_part] / 1000.0) * (27.0 / np.log(6.4))
    return mel


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    hz = 200.0 * mel / 3.0
    log_part = mel >= 15.0
    hz[log_part] = 1000.0 * np.exp((mel[log_part] - 15.0) * (np.log(6.4) / 27.0))
    return hz


@lru_cache(maxsize=1)
def mel_filters() -> np.ndarray:
    """Slaney-normalised triangular filters, shape (N_MELS, N_FFT // 2 + 1), float64."""
    fft_hz = np.linspace(0.0, SAMPLE_RATE / 2, N_FFT // 2 + 1)
    edges_mel = np.linspace(
        _hz_to_mel(np.array([0.0]))[0], _hz_to_mel(np.array([SAMPLE_RATE / 2]))[0], N_MELS + 2
    )
    edges = _mel_to_hz(edges_mel)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (fft_hz[None, :] - lower) / (centre - lower)
    falling = (upper - fft_hz[None, :]) / (upper - centre)
    filters = np.maximum(0.0, np.minimum(rising, falling))
    filters *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return filters


@lru_cache(maxsize=1)
def _hann() -> np.ndarray:
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(N_FFT) / N_FFT)  # periodic


def log_mel(window: np.ndarray) -> np.ndarray:
    """Whisper log-mel features (N_MELS, N_FRAMES) float32 of an 8 s float waveform."""
    if window.shape != (WINDOW_SAMPLES,):
        raise ValueError(f"expected {WINDOW_SAMPLES} samples, got {window.shape}")
    x = window.astype(np.float32)
    x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)  # do_normalize, in float32 as the reference
    padded = np.pad(x.astype(np.float64), N_FFT // 2, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP]
    power = np.abs(np.fft.rfft(frames * _hann(), axis=-1)) ** 2  # (N_FRAMES + 1, bins)
    mel = np.log10(np.maximum(power @ mel_filters().T, 1e-10)).T[:, :-1]
    mel = np.maximum(mel, mel.max() - 8.0)
    return ((mel + 4.0) / 4.0).astype(np.float32)


def features(audio: np.ndarray) -> np.ndarray:
    """The model input for int16 16 kHz `audio`: shape (1, N_MELS, N_FRAMES) float32."""
    return log_mel(last_window(audio))[None]


_sessions: dict[tuple[Path, int], ort.InferenceSession] = {}
_sessions_lock = threading.Lock()


def _session(path: Path, threads: int) -> ort.InferenceSession:
    with _sessions_lock:
        key = (path, threads)
        session = _sessions.get(key)
        if session is None:
            opts = ort.SessionOptions()
            opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
            opts.log_severity_level = 3
            session = ort.InferenceSession(
                str(path), sess_options=opts, providers=["CPUExecutionProvider"]
            )
            _sessions[key] = session
        return session


class SmartTurn:
    """Smart Turn v3.2 on onnxruntime; implements `TurnModel`. Cheap to construct."""

    name = "smart-turn-v3.2"

    def __init__(self, model_path: Path | None = None, threads: int = 1) -> None:
        self._path = model_path
        self._threads = threads
        self._session: ort.InferenceSession | None = None

    @property
    def session(self) -> ort.InferenceSession:
        if self._session is None:
            path = (self._path or find_model(SMART_TURN)).resolve()
            self._session = _session(path, self._threads)
        return self._session

    def load(self) -> None:
        """Load the model now (at startup) rather than on the first call."""
        _ = self.session

    def predict(self, audio: np.ndarray) -> float:
        """Probability (0..1) that the turn in `audio` (int16, 16 kHz, ending now) is over."""
        (out,) = self.session.run(None, {"input_features": features(audio)})
        return float(np.asarray(out).reshape(-1)[0])
