"""Silero VAD: per-frame speech probabilities on real speech."""

from __future__ import annotations

import time

import numpy as np
import pytest

from parley.providers.vad.silero import FRAME_SAMPLES, SileroVAD, VADStream
from tests.speech import JFK, SPACEWALK, read_audio, read_wav, silence, speak


@pytest.fixture(scope="module")
def vad() -> SileroVAD:
    return SileroVAD()


def probabilities(stream: VADStream, audio: np.ndarray) -> np.ndarray:
    n = len(audio) // FRAME_SAMPLES
    return np.array([stream.probability(audio[i * 512 : (i + 1) * 512]) for i in range(n)])


def test_speech_scores_high_and_silence_low(vad: SileroVAD) -> None:
    speech = speak("Could you tell me the way to the railway station please?")
    probs = probabilities(vad.stream(), speech)
    assert np.median(probs) > 0.9
    assert (probs > 0.5).mean() > 0.8
    # Low-level noise, not digital zeros, so the model itself runs.
    hiss = (np.random.default_rng(0).standard_normal(16000) * 30).astype(np.int16)
    assert probabilities(vad.stream(), hiss).max() < 0.2
    assert probabilities(vad.stream(), silence(1.0)).max() == 0.0


def test_real_recording_is_mostly_speech(vad: SileroVAD) -> None:
    probs = probabilities(vad.stream(), read_wav(SPACEWALK))
    assert 0.8 < (probs > 0.5).mean() < 0.99  # speech, with pauses
    assert probs[-15:].max() < 0.2  # the recording ends in silence


def test_old_broadcast_phrases_are_told_apart(vad: SileroVAD) -> None:
    """JFK, 1961, hiss and all: "And so my fellow Americans / ask not / what your country
    can do for you / ask what you can do for your country", a pause of 0.5-1 s between."""
    voiced = probabilities(vad.stream(), read_audio(JFK)) > 0.5
    phrases: list[list[int]] = []  # [first, last] voiced frame
    for i in np.flatnonzero(voiced):
        if phrases and i - phrases[-1][1] <= 12:  # gaps under 384 ms are within a phrase
            phrases[-1][1] = i
        else:
            phrases.append([i, i])
    long = [p for p in phrases if p[1] - p[0] >= 10]  # not a click of the old tape
    assert len(long) == 4, phrases
    assert 0.5 < voiced.mean() < 0.85


def test_streams_keep_their_own_state(vad: SileroVAD) -> None:
    a = speak("Hello there, how are you?")
    b = read_wav(SPACEWALK)[: len(a)]
    alone_a = probabilities(vad.stream(), a)
    alone_b = probabilities(vad.stream(), b)
    sa, sb = vad.stream(), vad.stream()
    mixed_a, mixed_b = [], []
    for i in range(len(a) // 512):
        mixed_a.append(sa.probability(a[i * 512 : (i + 1) * 512]))
        mixed_b.append(sb.probability(b[i * 512 : (i + 1) * 512]))
    np.testing.assert_allclose(mixed_a, alone_a, atol=1e-6)
    np.testing.assert_allclose(mixed_b, alone_b, atol=1e-6)


def test_context_and_state_carry_between_frames(vad: SileroVAD) -> None:
    speech = speak("Could you tell me the way to the railway station please?")
    frames = [speech[i * 512 : (i + 1) * 512] for i in range(len(speech) // 512)]
    stream = vad.stream()
    continuous = [stream.probability(f) for f in frames]
    fresh = []
    for f in frames:  # no memory between frames
        stream.reset()
        fresh.append(stream.probability(f))
    assert np.abs(np.array(continuous) - np.array(fresh)).max() > 0.05


def test_follows_the_silero_contract(vad: SileroVAD) -> None:
    """Each call sees [last 64 samples of the previous frame | 512 new samples] and the
    recurrent state the previous call returned."""
    audio = read_wav(SPACEWALK)[: 5 * 16000]
    ours = probabilities(vad.stream(silence_peak=0, reset_interval_ms=0), audio)
    state = np.zeros((2, 1, 128), dtype=np.float32)
    context = np.zeros(64, dtype=np.float32)
    expected = []
    for i in range(len(audio) // 512):
        x = np.concatenate([context, audio[i * 512 : (i + 1) * 512] / 32768.0]).astype(np.float32)
        out, state = vad.session.run(
            None, {"input": x[None], "state": state, "sr": np.array(16000, dtype=np.int64)}
        )
        context = x[-64:]
        expected.append(float(out[0, 0]))
    np.testing.assert_allclose(ours, expected, atol=1e-5)


def test_state_resets_after_long_non_speech(vad: SileroVAD) -> None:
    """After 2 s of clear non-speech the stream restarts, as a fresh one would."""
    hiss = (np.random.default_rng(1).standard_normal(3 * 16000) * 30).astype(np.int16)
    speech = speak("Hello there, how are you?")
    audio = np.concatenate([hiss, speech])
    resetting = probabilities(vad.stream(), audio)
    reset_at = 2000 // 32  # frames into the hiss
    fresh = probabilities(vad.stream(reset_interval_ms=0), audio[reset_at * 512 :])
    until = 2 * reset_at - 4  # before another reset could be due (speech starts at frame 93)
    np.testing.assert_allclose(resetting[reset_at:until], fresh[: until - reset_at], atol=1e-6)
    kept = probabilities(vad.stream(reset_interval_ms=0), audio)
    assert np.abs(kept[reset_at:until] - resetting[reset_at:until]).max() > 1e-3


def test_reset_restores_a_fresh_stream(vad: SileroVAD) -> None:
    speech = speak("Hello there, how are you?")
    stream = vad.stream()
    first = probabilities(stream, speech)
    stream.reset()
    np.testing.assert_allclose(probabilities(stream, speech), first, atol=1e-6)


def test_rejects_wrong_frames(vad: SileroVAD) -> None:
    stream = vad.stream()
    with pytest.raises(ValueError):
        stream.probability(np.zeros(480, dtype=np.int16))
    with pytest.raises(ValueError):
        stream.probability(np.zeros(512, dtype=np.float32))


def test_one_session_per_process() -> None:
    assert SileroVAD().session is SileroVAD().session


def test_per_frame_cost_is_small(vad: SileroVAD) -> None:
    speech = speak("Could you tell me the way to the railway station please?")
    stream = vad.stream(silence_peak=0)
    frames = [speech[i * 512 : (i + 1) * 512] for i in range(len(speech) // 512)]
    start = time.perf_counter()
    for f in frames:
        stream.probability(f)
    per_frame = (time.perf_counter() - start) / len(frames)
    assert per_frame < 0.003  # measured ~0.12 ms; generous for a loaded CI machine
