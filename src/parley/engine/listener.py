"""The ear of a conversation: 16 kHz audio in, speech start / pause events out.

Audio is cut into 32 ms frames for Silero VAD; the `SpeechDetector` turns its
probabilities into events. While a user turn is open, the audio (from a short pre-roll
before the detected start) goes to the speech recogniser as it arrives, so the final
transcript is nearly ready when the turn ends (DESIGN principle 6), and into a buffer
of the turn's last 8 s for the turn model.

Where a frame goes is the listener's own small state machine (`Capture`)::

    IDLE ──speech──▶ CAPTURING ──turn decided──▶ FINISHING ──final transcript──▶ IDLE
                        ▲                          │ speech (a next turn, or the same
                        └──final transcript── HELD ◀┘  one going on): held back from STT

    IDLE       frames fill the pre-roll
    CAPTURING  frames go to STT and the turn buffer
    FINISHING  STT finishes the decided turn; frames fill the pre-roll
    HELD       a turn is captured while the last one finishes: its STT audio waits
"""

from __future__ import annotations

import collections
import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from parley.audio.budget import AudioBudget
from parley.audio.frames import FrameBuffer
from parley.providers.stt.base import STTError, STTStream
from parley.providers.vad.detector import END_THRESHOLD_OFFSET, SpeechDetector, VADEvent
from parley.providers.vad.silero import FRAME_MS, FRAME_SAMPLES, SAMPLE_RATE, VADStream

if TYPE_CHECKING:
    from parley.engine.runtime import Runtime

PREROLL_MS = 320
TURN_AUDIO_SECONDS = 8


@dataclass(frozen=True)
class SpeechStarted:
    start_ms: int  # stream time of the first frame of speech


@dataclass(frozen=True)
class SpeechPaused:
    last_voiced_ms: int  # stream time the user went quiet
    pause_ms: int  # stream time the pause was detected (last_voiced_ms + stop_ms)


@dataclass(frozen=True)
class VoiceOnset:
    """The first voiced frame of something not yet confirmed as speech."""

    at_ms: int


@dataclass(frozen=True)
class VoiceGone:
    """What `VoiceOnset` announced faded before it was confirmed: a cough, a click."""

    at_ms: int


@dataclass(frozen=True)
class AudioDropped:
    """Audio came faster than the budget allows (`audio/budget.py`) and was not heard;
    `seconds` refused so far. Reported at most once per `report_every_s`."""

    seconds: float


ListenEvent = SpeechStarted | SpeechPaused | VoiceOnset | VoiceGone | AudioDropped


class Capture(enum.Enum):
    IDLE = "idle"
    CAPTURING = "capturing"
    FINISHING = "finishing"
    HELD = "held"


_CAPTURING = frozenset({Capture.CAPTURING, Capture.HELD})
_NOT_CAPTURING = frozenset({Capture.IDLE, Capture.FINISHING})


class Listener:
    """One per conversation. `feed()` is synchronous and cheap (≈0.1 ms per frame)."""

    @classmethod
    def of(cls, rt: Runtime, stt: STTStream, vad_threshold: float) -> Listener:
        """A conversation's listener on the process's shared VAD model."""
        detector = SpeechDetector(
            threshold=max(0.01, vad_threshold), start_ms=rt.vad_start_ms, stop_ms=rt.vad_stop_ms
        )
        return cls(rt.vad.stream(), detector, stt, rt.audio_budget())

    def __init__(
        self,
        vad: VADStream,
        detector: SpeechDetector,
        stt: STTStream,
        budget: AudioBudget | None = None,
    ) -> None:
        self._budget = budget or AudioBudget()
        self._vad = vad
        self._detector = detector
        self.stt = stt
        self._frames = FrameBuffer(FRAME_SAMPLES)
        self._preroll: collections.deque[np.ndarray] = collections.deque(
            maxlen=max(1, PREROLL_MS // FRAME_MS)
        )
        self._turn_audio: collections.deque[np.ndarray] = collections.deque(
            maxlen=TURN_AUDIO_SECONDS * SAMPLE_RATE // FRAME_SAMPLES
        )
        self.capture = Capture.IDLE
        self._held: list[np.ndarray] = []  # STT audio of the turn captured while HELD
        self.stream_ms = 0  # audio received so far
        # The last frame that sounded like voice (probability at or above the detector's
        # end threshold), in stream time and on the clock: silence is counted from it.
        self.last_voiced_ms = 0
        self.last_voiced_clock = 0.0

    def silence_ms(self, now: float) -> float:
        """How long the user has been quiet: by the audio received, or by the clock when
        audio stopped coming (whichever says longer)."""
        by_audio = self.stream_ms - self.last_voiced_ms
        by_clock = (now - self.last_voiced_clock) * 1000
        return max(by_audio, by_clock)

    def set_threshold(self, threshold: float) -> None:
        """The stream's `vad_threshold` (a reconnect may bring another)."""
        self._detector.threshold = threshold
        self._detector.end_threshold = max(0.01, threshold - END_THRESHOLD_OFFSET)

    @property
    def capturing(self) -> bool:
        """A turn is open: its audio goes to the recogniser."""
        return self.capture in _CAPTURING

    @property
    def voiced(self) -> bool:
        """Voice is heard now: speech, or a candidate for it."""
        return self._detector.in_speech or self._detector.candidate

    def words_caught_up(self) -> bool:
        """Whether the interim words cover the speech fed so far: a recogniser may say
        so (`caught_up`, Whisper's streaming decodes); one that does not is taken as
        keeping up."""
        return bool(getattr(self.stt, "caught_up", True))

    @property
    def in_speech(self) -> bool:
        return self._detector.in_speech

    def feed(self, samples: np.ndarray, now: float = 0.0) -> list[ListenEvent]:
        """Take any amount of 16 kHz int16 audio (arrived at clock time `now`); returns
        the events it caused, in order."""
        events: list[ListenEvent] = []
        if not self._budget.take(samples.size / SAMPLE_RATE, now):
            if self._budget.report_due(now):
                events.append(AudioDropped(self._budget.dropped_s))
            return events
        self._frames.push(samples)
        while (frame := self._frames.pop()) is not None:
            self.stream_ms += FRAME_MS
            was_candidate = self._detector.candidate
            update = self._detector.update(self._vad.probability(frame))
            if not update.in_speech and self._detector.candidate != was_candidate:
                onset = self._detector.candidate
                events.append(VoiceOnset(self.stream_ms) if onset else VoiceGone(self.stream_ms))
            if update.probability >= self._detector.end_threshold:
                self.last_voiced_ms = self.stream_ms
                self.last_voiced_clock = now
            if update.event is VADEvent.SPEECH_START and self.capture in _NOT_CAPTURING:
                self._start_capture()
            if self.capture in _CAPTURING:
                self._capture(frame)
            else:
                self._preroll.append(frame)
            if update.event is VADEvent.SPEECH_START:
                events.append(SpeechStarted(update.speech_start_ms or 0))
            elif update.event is VADEvent.SPEECH_END:
                events.append(SpeechPaused(update.last_voiced_ms or 0, update.frame_end_ms))
        return events

    def _start_capture(self) -> None:
        # The turn buffer is not cleared: the turn model sees the last 8 s of the user's
        # speech, which for a continued turn includes its first segment.
        self.reopen()
        for frame in self._preroll:
            self._capture(frame)
        self._preroll.clear()

    def _capture(self, frame: np.ndarray) -> None:
        self._turn_audio.append(frame)
        if self.capture is Capture.HELD:
            self._held.append(frame)
        else:
            self.stt.feed(frame)

    def turn_audio(self) -> np.ndarray:
        """The open turn's audio (its last 8 s), for the turn model."""
        if not self._turn_audio:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate(list(self._turn_audio))

    def cut_speech(self) -> None:
        """The turn has lasted its maximum: the speech ends here, as if the user had gone
        quiet, and none starts again before a real quiet (`SpeechDetector.cut`)."""
        self._detector.cut()

    def close_turn(self) -> None:
        """The turn is decided: stop capturing. STT audio of a next turn is held back
        until `release()`, so it does not leak into the transcript being finished."""
        self.capture = Capture.FINISHING

    def reopen(self) -> None:
        """Capture (again): a new turn, or the user going on after the turn was decided
        (audio still held for STT goes to the recogniser as the next segment)."""
        self.capture = Capture.HELD if self.capture is Capture.FINISHING else Capture.CAPTURING

    def release(self) -> None:
        """The last transcript is final: send the held audio of the next turn to STT."""
        if self.capture is Capture.FINISHING:
            self.capture = Capture.IDLE
        elif self.capture is Capture.HELD:
            self.capture = Capture.CAPTURING
        held, self._held = self._held, []
        for frame in held:
            self.stt.feed(frame)

    async def finish_segment(self, on_error: Callable[[STTError], Awaitable[None]]) -> str:
        """The decided turn's final transcript ("" if the recogniser failed: `on_error`);
        then the held audio of a next turn goes to the recogniser."""
        try:
            return (await self.stt.finish()).strip()
        except STTError as exc:
            await on_error(exc)
            return ""
        finally:
            self.release()

    def drop_turn(self) -> None:
        """Forget the open turn without a transcript (e.g. the session is closing)."""
        if self.capture is Capture.CAPTURING:
            self.capture = Capture.IDLE
        elif self.capture is Capture.HELD:
            self.capture = Capture.FINISHING
        self._turn_audio.clear()
