"""End of turn is a decision, not a timeout (DESIGN principle 5).

The VAD's "the user went quiet" (after `stop_ms` of silence) opens the decision; three
signals then set how much silence, counted from the last voiced frame, closes the turn:

    speech ████████████▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁
                       ^ last voiced frame
                       |<-stop->| VAD pause: the turn model scores the turn audio
                       |<--- fast_ms --->|            complete: model sure, words fine
                       |<-------- normal_ms -------->| unsure
                       |<---------------- slow_ms ------------------>| mid-sentence

- the turn model (Smart Turn v3): probability that the user finished;
- the words so far, where the recogniser gives interim words: a turn that ends in "and",
  "for", "the", "is"… is not finished, whatever the model says (it is unstable on
  synthetic speech, see DESIGN.md); without interim words the model decides alone;
- the silence itself: speech that resumes before the deadline reopens the same turn.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Words after which an English sentence cannot end. Other languages rely on the model.
_UNFINISHED_EN = frozenset(
    """a an the and or but so because if when while than then which whose
    to for of in on at by with from into onto about as like
    is are was were my your his her its our their
    i i'd i'm i'll we he she they
    um uh er erm
    very really just
    """.split()
)
_WORD = re.compile(r"[\w']+")


def ends_unfinished(text: str, language: str = "en") -> bool:
    """Whether the words so far stop where a sentence cannot end."""
    if language != "en":
        return False
    words = _WORD.findall(text.lower())
    return bool(words) and words[-1] in _UNFINISHED_EN


@dataclass(frozen=True)
class EndOfTurnDecided:
    """What the policy was given and asked for, as the turn was decided (for observers)."""

    session_id: str
    probability: float | None
    need_ms: int
    speech_ms: int


@dataclass(frozen=True)
class EndpointPolicy:
    """Measured on Smart Turn v3.2 (see README "End of turn"): on real speech a low score
    is a good "not done" signal at mid-sentence pauses but the true end scores low too,
    so a low score cannot mean "wait long"; a high score, on the other hand, comes
    mostly from finished sentences. So: words that cannot end a sentence wait long, a
    confident model shortens the wait, and everything else waits the normal time, which
    is longer than the mid-sentence pauses of natural speech (≤ 450 ms in our recording).
    """

    fast_ms: int = 200
    normal_ms: int = 600
    slow_ms: int = 1600
    confident: float = 0.5  # model probability from which the turn is taken as complete
    # ... and from which words that cannot end a sentence wait the normal time, not the
    # slow one: the last word of an interim transcript is often misheard ("weekend" →
    # "week and"); real fragments scored ≤ 0.89 on espeak-ng speech, finished ones ≥ 0.95.
    sure: float = 0.9
    min_words: int = 2  # a fast decision needs at least this many recognised words
    min_speech_ms: int = 300  # shorter turns ("uh") wait the normal time
    # The reply's first audio, prepared from the decision on, plays no sooner than this
    # after speech end: a fast decision saves the LLM's time, not the user's pause.
    speak_after_ms: int = 700

    def needs_model(self, speech_ms: int) -> bool:
        """Whether the turn model's answer can change the decision: a turn too short for
        a fast decision waits the normal time (or longer) whatever the model says, so
        its ~40 ms of CPU is not spent."""
        return speech_ms >= self.min_speech_ms

    def required_silence_ms(
        self, probability: float | None, text: str | None, speech_ms: int, language: str = "en"
    ) -> int:
        """Silence, counted from the last voiced frame, after which the turn is over.

        `text` is the interim transcript, or None when the recogniser gives none (a
        remote or batch STT): then the model and the speech duration decide alone.
        """
        confident = probability is not None and probability >= self.confident
        if text is not None and ends_unfinished(text, language):
            # Words beat a confident model: Smart Turn scores synthetic fragments such as
            # "I would like to book a table for" as finished (p ≈ 0.6-0.89). Only a sure
            # model shortens the wait, and then to the normal one: a stray "and" at the
            # end of an interim transcript should not make a finished turn wait 1.6 s.
            sure = probability is not None and probability >= self.sure
            return self.normal_ms if sure and speech_ms >= self.min_speech_ms else self.slow_ms
        enough_words = (
            text is None or language != "en" or len(_WORD.findall(text)) >= self.min_words
        )
        if confident and speech_ms >= self.min_speech_ms and enough_words:
            return self.fast_ms
        return self.normal_ms
