"""End of turn is a decision, not a timeout (DESIGN principle 5).

The VAD's "the user went quiet" (after `stop_ms` of silence) opens the decision; three
signals then set how much silence, counted from the last voiced frame, closes the turn:

    speech ████████████▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁
                       ^ last voiced frame
                       |<-stop->| VAD pause: the turn model scores the turn audio
                       |<--- fast_ms --->|            complete: model confident, words fine
                       |<-------- normal_ms -------->| unsure
                       |<---------------- slow_ms ------------------>| mid-sentence

- the words so far, where the recogniser gives interim words (Whisper's are reliable): a
  turn that ends in "and", "for", "the", "is"…, in digits being read out ("four five")
  or in a comma is not finished, whatever the model says — Smart Turn's scores differ
  by CPU (its int8 kernels: "I am looking for" scored 0.974 on one machine), so no
  score overrides them;
- the turn model (Smart Turn v3): a confident score with finished words is the fast wait;
  without interim words the model and the speech duration decide alone;
- the silence itself: the words are read again while it lasts (the recogniser's decode
  of the last words may land after the pause opened the decision), the turn is taken
  only once they cover the speech (or after the normal wait at the latest), and speech
  that resumes before the deadline reopens the same turn.

The three waits are per-session settings (`end_of_turn_fast_ms`, `end_of_turn_normal_ms`,
`end_of_turn_slow_ms`; `EndpointPolicy.for_session`).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

# Words after which an English sentence cannot end. Other languages rely on the model.
_UNFINISHED_EN = frozenset(
    """a an the and or but so because if when while than then which whose
    to for of in on at by with from into onto about as like near
    is are was were my your his her its our their
    i i'd i'm i'll we he she they
    um uh er erm
    very really just
    """.split()
)
_DIGITS_EN = frozenset("zero oh one two three four five six seven eight nine".split())
_WORD = re.compile(r"[\w']+")

# The session settings of the policy, by the field each sets.
SETTING_FIELDS = {
    "end_of_turn_fast_ms": "fast_ms",
    "end_of_turn_normal_ms": "normal_ms",
    "end_of_turn_slow_ms": "slow_ms",
}


def _reading_digits(words: list[str]) -> bool:
    """Digits being read out one by one ("four five", "4 5"): more may follow a pause.
    (Not "730" or "seven thirty": Whisper writes times and amounts as numbers.)"""
    last2 = words[-2:]
    return len(last2) == 2 and all(w in _DIGITS_EN or (w.isdigit() and len(w) == 1) for w in last2)


def ends_unfinished(text: str, language: str = "en") -> bool:
    """Whether the words so far stop where a sentence cannot end: on a word that cannot
    end one, on digits being read out, or on a comma (Whisper's mark of a phrase that
    goes on: "My order number is" is often heard as "My order number,")."""
    if text.rstrip().endswith((",", ";", ":", "-", "…", "...")):
        return True
    if language != "en":
        return False
    words = _WORD.findall(text.lower())
    return bool(words) and (words[-1] in _UNFINISHED_EN or _reading_digits(words))


@dataclass(frozen=True)
class EndOfTurnDecided:
    """What the policy was given and asked for, as the turn was decided (for observers)."""

    session_id: str
    probability: float | None
    need_ms: int
    speech_ms: int
    words: str | None = None  # the interim words the decision read last


@dataclass(frozen=True)
class EndpointPolicy:
    """Measured on Smart Turn v3.2 with Whisper tiny.en words (README "End of turn"): on
    real speech a low score is a good "not done" signal at mid-sentence pauses but the
    true end scores low too, so a low score cannot mean "wait long"; a high score comes
    mostly from finished sentences, but also from fragments, by CPU. So: words that
    cannot end a sentence wait long, a confident model with finished words shortens the
    wait, and everything else waits the normal time, which is longer than the
    mid-sentence pauses of natural speech (≤ 450 ms in our recording).
    """

    fast_ms: int = 200
    normal_ms: int = 600
    slow_ms: int = 1600
    confident: float = 0.5  # model probability from which the turn is taken as complete
    min_words: int = 2  # a fast decision needs at least this many recognised words
    min_speech_ms: int = 300  # shorter turns ("uh") wait the normal time

    def for_session(self, settings: dict[str, Any]) -> EndpointPolicy:
        """This policy with the session's `end_of_turn_*_ms` settings (checked at create)."""
        changes = {
            name: int(settings[key])
            for key, name in SETTING_FIELDS.items()
            if settings.get(key) is not None
        }
        return dataclasses.replace(self, **changes) if changes else self

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
        if text is not None and ends_unfinished(text, language):
            return self.slow_ms  # words beat the model (its scores differ by CPU)
        confident = probability is not None and probability >= self.confident
        enough_words = (
            text is None or language != "en" or len(_WORD.findall(text)) >= self.min_words
        )
        if confident and speech_ms >= self.min_speech_ms and enough_words:
            return self.fast_ms
        return self.normal_ms
