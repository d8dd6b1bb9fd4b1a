"""Speech start / speech end events from per-frame VAD probabilities.

Time here is counted in frames (32 ms each at 16 kHz), never read from a clock, so the
same audio always gives the same events at the same stream timestamps::

    prob   ..▁▁▇█▇█████▇█▆▇██▇▁▁▁▁▁▁▁▁▁▁▁
              |<start_ms>|        |<stop_ms>|
              ^ speech_start_ms  ^ last_voiced_ms
                         ^ SPEECH_START     ^ SPEECH_END

- A frame at or above `threshold` opens a candidate; the candidate becomes speech
  (SPEECH_START) once `start_ms` worth of frames at or above `threshold` have been seen
  without any frame falling below the lower `end_threshold` in between. Frames between the
  two thresholds keep the candidate alive but do not count. So a cough or click shorter
  than `start_ms` never starts a turn, and `speech_start_ms` points at the first frame of
  the candidate (where the engine's pre-roll buffer should begin).
- In speech, frames at or above `end_threshold` are voiced; `stop_ms` of consecutive frames
  below it end the speech segment (SPEECH_END). SPEECH_END is the VAD's "the user went
  quiet", not the end of the turn: the end-of-turn decision starts there.
- `cut()` ends the speech segment at once (a turn at its maximum length): no speech can
  start again until `stop_ms` of frames below `end_threshold` have been heard, so a voice
  or a noise that never stops makes one capped turn, not a new one every few frames.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from parley.providers.vad.silero import FRAME_SAMPLES, SAMPLE_RATE

END_THRESHOLD_OFFSET = 0.15


class VADEvent(enum.Enum):
    NONE = "none"
    SPEECH_START = "speech_start"
    SPEECH_END = "speech_end"


@dataclass(frozen=True)
class VADUpdate:
    """The detector's view after one frame. Times are stream milliseconds."""

    event: VADEvent
    in_speech: bool
    probability: float
    frame_end_ms: int  # the end of the frame just processed
    speech_start_ms: int | None  # start of the current (or last) speech segment
    last_voiced_ms: int | None  # end of the last voiced frame of it


class SpeechDetector:
    """Hysteresis over VAD probabilities, driven by frame count. One per audio stream."""

    def __init__(
        self,
        threshold: float = 0.5,
        start_ms: int = 224,
        stop_ms: int = 200,
        end_threshold: float | None = None,
        frame_samples: int = FRAME_SAMPLES,
        sample_rate: int = SAMPLE_RATE,
    ) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        self.threshold = threshold
        self.end_threshold = (
            max(0.01, threshold - END_THRESHOLD_OFFSET) if end_threshold is None else end_threshold
        )
        if self.end_threshold > threshold:
            raise ValueError("end_threshold must not exceed threshold")
        self._frame_samples = frame_samples
        self._rate = sample_rate
        frame_ms = frame_samples * 1000 / sample_rate
        self._start_frames = max(1, math.ceil(start_ms / frame_ms))
        self._stop_frames = max(1, math.ceil(stop_ms / frame_ms))
        self.reset()

    def reset(self) -> None:
        self._frames = 0
        self._in_speech = False
        self._candidate_start: int | None = None  # frame index
        self._candidate_voiced = 0
        self._silent_run = 0
        self._speech_start_ms: int | None = None
        self._last_voiced_ms: int | None = None
        self._latched = False  # after `cut()`: quiet must come before speech can start

    def cut(self) -> None:
        """End the speech segment now (no SPEECH_END event: the caller decided it); speech
        starts again only after a quiet of `stop_ms`."""
        self._in_speech = False
        self._candidate_start = None
        self._candidate_voiced = 0
        self._silent_run = 0
        self._latched = True

    @property
    def in_speech(self) -> bool:
        return self._in_speech

    @property
    def candidate(self) -> bool:
        """Voice heard but not yet confirmed as speech (a cough, a click, or speech)."""
        return self._candidate_start is not None

    def _ms(self, frame_index: int) -> int:
        return frame_index * self._frame_samples * 1000 // self._rate

    def update(self, probability: float) -> VADUpdate:
        """Feed the probability of the next frame; returns the state after it."""
        index = self._frames
        self._frames += 1
        event = VADEvent.NONE
        if self._latched:
            self._silent_run = self._silent_run + 1 if probability < self.end_threshold else 0
            if self._silent_run >= self._stop_frames:
                self._latched = False
                self._silent_run = 0
        elif self._in_speech:
            if probability >= self.end_threshold:
                self._silent_run = 0
                self._last_voiced_ms = self._ms(index + 1)
            else:
                self._silent_run += 1
                if self._silent_run >= self._stop_frames:
                    self._in_speech = False
                    self._silent_run = 0
                    event = VADEvent.SPEECH_END
        elif probability < self.end_threshold:
            self._candidate_start = None
            self._candidate_voiced = 0
        elif probability >= self.threshold or self._candidate_start is not None:
            if self._candidate_start is None:
                self._candidate_start = index
            if probability >= self.threshold:
                self._candidate_voiced += 1
            if self._candidate_voiced >= self._start_frames:
                self._in_speech = True
                self._speech_start_ms = self._ms(self._candidate_start)
                self._last_voiced_ms = self._ms(index + 1)
                self._candidate_start = None
                self._candidate_voiced = 0
                self._silent_run = 0
                event = VADEvent.SPEECH_START
        return VADUpdate(
            event=event,
            in_speech=self._in_speech,
            probability=probability,
            frame_end_ms=self._ms(index + 1),
            speech_start_ms=self._speech_start_ms,
            last_voiced_ms=self._last_voiced_ms,
        )
