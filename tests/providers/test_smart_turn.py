"""Smart Turn v3.2: feature extraction and the model's contract.

`test_features_match_transformers` compares our numpy features with
`transformers.WhisperFeatureExtractor`; it runs only when `transformers` is installed
(`pip install transformers`, no torch needed) and is skipped otherwise. The golden values
in `test_features_match_stored_reference` were produced by that same reference (transformers
5.x), so the comparison also runs without it.
"""

from __future__ import annotations

import numpy as np
import pytest

from parley.providers.turn import smart_turn
from parley.providers.turn.base import TurnModel
from parley.providers.turn.smart_turn import (
    N_FRAMES,
    N_MELS,
    WINDOW_SAMPLES,
    SmartTurn,
    features,
    last_window,
    mel_filters,
)
from tests.speech import SPACEWALK, read_wav, silence, speak


def harmonic_signal() -> np.ndarray:
    """3 s of a deterministic voiced-like sound: rising pitch, harmonics, 3 Hz envelope."""
    t = np.arange(3 * 16000) / 16000
    phase = 2 * np.pi * np.cumsum(120 + 60 * t) / 16000
    x = sum(np.sin(k * phase) / k for k in range(1, 40) if k * 300 < 8000)
    x *= 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
    return (x * 8000).astype(np.int16)


# transformers.WhisperFeatureExtractor(chunk_length=8)(last_window(harmonic_signal()),
# do_normalize=True, ...), rows [2, 10, 25, 45, 70] x columns [0, 520, 610, 700, 799]
REFERENCE = np.array(
    [
        [-0.1822, 1.4646, 1.3161, 0.4098, 0.9030],
        [-0.1822, 1.2354, 1.5845, 1.2101, 0.9482],
        [-0.1822, 0.9337, 1.3797, 1.3703, 1.0176],
        [-0.1822, 0.8148, 1.2029, 0.9787, 1.1544],
        [-0.1822, -0.1822, -0.1822, 0.8538, 0.8422],
    ]
)


def test_features_match_stored_reference() -> None:
    feats = features(harmonic_signal())
    assert feats.shape == (1, N_MELS, N_FRAMES) and feats.dtype == np.float32
    got = feats[0][np.ix_([2, 10, 25, 45, 70], [0, 520, 610, 700, 799])]
    np.testing.assert_allclose(got, REFERENCE, atol=2e-4)
    assert feats.mean() == pytest.approx(0.17951, abs=1e-4)


def test_features_match_transformers() -> None:
    transformers = pytest.importorskip("transformers")
    extractor = transformers.WhisperFeatureExtractor(chunk_length=8)
    for audio in (speak("I would like to book a table for two."), read_wav(SPACEWALK)):
        window = last_window(audio)
        ref = extractor(
            window,
            sampling_rate=16000,
            return_tensors="np",
            padding="max_length",
            max_length=WINDOW_SAMPLES,
            truncation=True,
            do_normalize=True,
        ).input_features[0]
        np.testing.assert_allclose(features(audio)[0], ref, atol=1e-5)


def test_window_pads_in_front_and_keeps_the_end() -> None:
    short = speak("Hello.")
    w = last_window(short)
    assert w.shape == (WINDOW_SAMPLES,) and w.dtype == np.float32
    assert not w[: WINDOW_SAMPLES - short.size].any()
    np.testing.assert_array_equal(w[-short.size :], short / 32768.0)
    long = read_wav(SPACEWALK)
    np.testing.assert_array_equal(last_window(long), long[-WINDOW_SAMPLES:] / 32768.0)


def test_feature_range_and_placement() -> None:
    feats = features(speak("Hello, how are you today?"))[0]
    assert feats.max() - feats.min() <= 2.0 + 1e-6  # log10 clamped to max - 8, then / 4
    frame_energy = feats.mean(axis=0)
    assert frame_energy[-100:].mean() > frame_energy[:400].mean() + 0.3  # speech at the end


def test_mel_filters_are_slaney() -> None:
    filters = mel_filters()
    assert filters.shape == (N_MELS, 201)
    assert (filters >= 0).all() and (filters.sum(axis=1) > 0).all()
    # Slaney normalisation gives every triangle unit area over Hz: summed over the
    # 40 Hz-wide FFT bins, each filter's weights come to ~1/40.
    np.testing.assert_allclose(filters.sum(axis=1) * 40.0, 1.0, rtol=0.15)
    # A 1 kHz tone peaks in the filter centred nearest 1 kHz (mel 15 of 45.2 -> ~26).
    t = np.arange(2 * 16000) / 16000
    tone = (np.sin(2 * np.pi * 1000 * t) * 10000).astype(np.int16)
    assert int(features(tone)[0][:, -50:].mean(axis=1).argmax()) in (25, 26, 27)


@pytest.fixture(scope="module")
def model() -> SmartTurn:
    return SmartTurn()


def test_predict_is_a_probability(model: SmartTurn) -> None:
    turn: TurnModel = model
    for audio in (
        speak("I would like to book a table for two people tonight."),
        np.concatenate([speak("So I was thinking that maybe we could"), silence(0.2)]),
        read_wav(SPACEWALK),  # longer than 8 s
        silence(0.1),
    ):
        p = turn.predict(audio)
        assert 0.0 <= p <= 1.0
    audio = speak("Thank you, that is all I needed.")
    assert model.predict(audio) == model.predict(audio)


def test_model_loads_once(model: SmartTurn) -> None:
    other = SmartTurn()
    assert other.session is model.session
    assert len(smart_turn._sessions) == 1


def test_mid_sentence_pause_in_real_speech_is_not_an_end(model: SmartTurn) -> None:
    """'Yeah, as much as it's worth |' — a hesitation 2.66 s into the recording."""
    sw = read_wav(SPACEWALK)
    for trailing in (0.0, 0.2):
        assert model.predict(np.concatenate([sw[: 2656 * 16], silence(trailing)])) < 0.3
