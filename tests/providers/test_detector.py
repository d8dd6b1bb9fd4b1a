"""SpeechDetector: start / end events, on probability sequences and on real audio."""

from __future__ import annotations

import numpy as np
import pytest

from parley.providers.vad.detector import SpeechDetector, VADEvent, VADUpdate
from parley.providers.vad.silero import FRAME_SAMPLES, SileroVAD
from tests.speech import SPACEWALK, read_wav, silence, speak

# -- the hysteresis itself, on made-up probabilities (32 ms frames) --


def feed(detector: SpeechDetector, probs: list[float]) -> list[VADUpdate]:
    return [detector.update(p) for p in probs]


def events(updates: list[VADUpdate]) -> list[tuple[VADEvent, int]]:
    return [(u.event, i) for i, u in enumerate(updates) if u.event is not VADEvent.NONE]


def test_start_needs_sustained_speech() -> None:
    det = SpeechDetector(threshold=0.5, start_ms=224)  # 7 frames
    ups = feed(det, [0.0] * 3 + [0.9] * 6 + [0.0] * 10)
    assert events(ups) == []
    ups = feed(det, [0.9] * 7)
    assert events(ups) == [(VADEvent.SPEECH_START, 6)]
    assert ups[-1].in_speech
    # the segment starts at the first voiced frame: 3 + 6 + 10 = 19 frames in
    assert ups[-1].speech_start_ms == 19 * 32
    assert ups[-1].last_voiced_ms == ups[-1].frame_end_ms == 26 * 32


def test_cut_speech_starts_again_only_after_a_quiet() -> None:
    """`cut()` (a turn at its maximum length) ends the speech with no event; voice going
    on does not start it again, nor do dips shorter than `stop_ms`; after a quiet it does."""
    det = SpeechDetector(threshold=0.5, start_ms=96, stop_ms=160)  # 3 frames, 5 frames
    assert events(feed(det, [0.9] * 4)) == [(VADEvent.SPEECH_START, 2)]
    det.cut()
    assert not det.in_speech and not det.candidate
    ups = feed(det, [0.9] * 20 + [0.0] * 4 + [0.9] * 20)
    assert events(ups) == [] and not any(u.in_speech for u in ups)
    ups = feed(det, [0.0] * 5 + [0.9] * 3)
    assert events(ups) == [(VADEvent.SPEECH_START, 7)]


def test_dips_between_thresholds_do_not_cancel_a_start() -> None:
    det = SpeechDetector(threshold=0.5, start_ms=224)  # end threshold 0.35
    ups = feed(det, [0.9, 0.9, 0.4, 0.9, 0.9, 0.4, 0.9, 0.9, 0.9])
    assert events(ups) == [(VADEvent.SPEECH_START, 8)]
    assert ups[-1].speech_start_ms == 0
    det = SpeechDetector(threshold=0.5, start_ms=224)
    ups = feed(det, [0.9, 0.9, 0.9, 0.2, 0.9, 0.9, 0.9, 0.9])  # a real gap restarts the count
    assert events(ups) == []


def test_end_after_stop_ms_of_quiet() -> None:
    det = SpeechDetector(threshold=0.5, start_ms=64, stop_ms=200)  # 2 frames, 7 frames
    ups = feed(det, [0.9, 0.9, 0.9, 0.4, 0.3, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1])
    # 0.4 is still voiced (>= 0.35); quiet from frame 4, 7 quiet frames -> end at frame 10
    assert events(ups) == [(VADEvent.SPEECH_START, 1), (VADEvent.SPEECH_END, 10)]
    assert ups[-1].last_voiced_ms == 4 * 32
    assert not ups[-1].in_speech
    assert ups[-1].speech_start_ms == 0


def test_short_pause_does_not_end_speech() -> None:
    det = SpeechDetector(threshold=0.5, start_ms=64, stop_ms=200)
    ups = feed(det, [0.9] * 3 + [0.0] * 6 + [0.9] * 3 + [0.0] * 7)
    assert events(ups) == [(VADEvent.SPEECH_START, 1), (VADEvent.SPEECH_END, 18)]
    assert ups[-1].last_voiced_ms == 12 * 32


def test_threshold_sets_both_levels() -> None:
    det = SpeechDetector(threshold=0.8)
    assert det.end_threshold == pytest.approx(0.65)
    assert not any(u.in_speech for u in feed(det, [0.75] * 20))
    with pytest.raises(ValueError):
        SpeechDetector(threshold=0.0)


# -- on real audio through Silero --


@pytest.fixture(scope="module")
def vad() -> SileroVAD:
    return SileroVAD()


def detect(
    vad: SileroVAD,
    audio: np.ndarray,
    threshold: float = 0.5,
    start_ms: int = 224,
    stop_ms: int = 200,
) -> list[VADUpdate]:
    stream, det = vad.stream(), SpeechDetector(threshold, start_ms=start_ms, stop_ms=stop_ms)
    n = len(audio) // FRAME_SAMPLES
    return [det.update(stream.probability(audio[i * 512 : (i + 1) * 512])) for i in range(n)]


def found(updates: list[VADUpdate], event: VADEvent) -> list[VADUpdate]:
    return [u for u in updates if u.event is event]


def test_starts_on_speech_within_a_bounded_delay(vad: SileroVAD) -> None:
    speech = speak("Hello there, I would like to book a table for two people tonight.")
    onset_ms = 1000 + np.flatnonzero(np.abs(speech) > 300)[0] / 16
    ups = detect(vad, np.concatenate([silence(1.0), speech, silence(1.0)]))
    (start,) = found(ups, VADEvent.SPEECH_START)
    assert onset_ms + 150 <= start.frame_end_ms <= onset_ms + 450
    assert start.speech_start_ms is not None and abs(start.speech_start_ms - onset_ms) < 150
    (end,) = found(ups, VADEvent.SPEECH_END)
    speech_end_ms = 1000 + len(speech) / 16
    assert end.last_voiced_ms is not None and abs(end.last_voiced_ms - speech_end_ms) < 150
    assert end.frame_end_ms - end.last_voiced_ms == pytest.approx(224, abs=1)  # 7 frames


@pytest.mark.parametrize("burst_ms", [80, 120])
def test_noise_burst_does_not_start(vad: SileroVAD, burst_ms: int) -> None:
    noise = np.random.default_rng(burst_ms).standard_normal(burst_ms * 16) * 10000
    burst = np.clip(noise, -32768, 32767).astype(np.int16)
    click = np.zeros(160, dtype=np.int16)
    click[:20], click[20:40] = 30000, -30000
    audio = np.concatenate([silence(0.5), burst, silence(0.5), click, silence(0.5)])
    assert not any(u.in_speech for u in detect(vad, audio))


def test_short_vocal_blip_needs_start_ms(vad: SileroVAD) -> None:
    """A 120 ms piece of a real vowel: the model hears speech, the detector waits for more."""
    ah = speak("Ah")
    onset = int(np.flatnonzero(np.abs(ah) > 300)[0])
    blip = ah[onset + 800 : onset + 800 + 120 * 16].astype(np.float64)
    blip *= np.minimum(1.0, np.minimum(np.arange(blip.size), np.arange(blip.size)[::-1]) / 80)
    audio = np.concatenate([silence(0.5), blip.astype(np.int16), silence(0.5)])
    assert not any(u.in_speech for u in detect(vad, audio))
    assert any(u.in_speech for u in detect(vad, audio, start_ms=32))  # the test can fail


def test_threshold_changes_what_counts_as_speech(vad: SileroVAD) -> None:
    """Very quiet speech (about -50 dBFS peak) scores 0.3-0.45: heard at 0.3, not at 0.9."""
    speech = speak("Could you tell me the way to the railway station please?")
    quiet = (np.concatenate([silence(0.5), speech, silence(0.5)]) * 0.004).astype(np.int16)
    assert any(u.in_speech for u in detect(vad, quiet, threshold=0.3))
    assert not any(u.in_speech for u in detect(vad, quiet, threshold=0.9))
    normal = np.concatenate([silence(0.5), speech, silence(0.5)])
    assert any(u.in_speech for u in detect(vad, normal, threshold=0.9))


def test_real_recording_has_speech_with_pauses(vad: SileroVAD) -> None:
    ups = detect(vad, read_wav(SPACEWALK), stop_ms=200)
    starts, ends = found(ups, VADEvent.SPEECH_START), found(ups, VADEvent.SPEECH_END)
    assert starts[0].frame_end_ms < 600
    assert len(starts) == len(ends) >= 3  # mid-answer pauses end segments at 200 ms
    assert ends[-1].last_voiced_ms is not None and ends[-1].last_voiced_ms > 25_000
    voiced = sum((e.last_voiced_ms or 0) - (e.speech_start_ms or 0) for e in ends)
    assert voiced > 0.9 * 25_000
    # with a longer stop_ms the same answer is one segment
    ups = detect(vad, read_wav(SPACEWALK), stop_ms=500)
    assert len(found(ups, VADEvent.SPEECH_START)) == 1
