"""Yielding the floor in two steps (DESIGN principle 4b): speech over a reply first
*pauses* it, then a short decision says whether it was an interruption (cut the reply)
or a backchannel or a noise (resume it)::

    reply audio ████████████▌ paused ······························▐████████ resumed
    user              ▁▂█ voice onset (first voiced frame): the reply's output stops
                         |<-- confirmed speech ("uh huh", ≤ backchannel_ms) -->| quiet:
                         its words are a backchannel (or none) → resume; other words → cut

- A voice that fades before it is confirmed as speech (a cough, a click) resumes at once.
- Confirmed speech that goes on past `backchannel_ms`, or whose interim words ask for the
  floor ("wait", "stop", "sorry"…), interrupts at once.
- Speech that ends within `backchannel_ms` is judged by its final words: all of them
  backchannel words (or no words) → resume; anything else → interrupt.
- Nothing stays paused longer than `pause_limit_ms`.

`interruption` (a session setting): `adaptive` (the above), `immediate` (confirmed speech
cuts the reply, no pause first) or `none` (the assistant never yields; speech over a
reply is ignored).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

MODES = ("adaptive", "immediate", "none")

# Acknowledgements a listener gives without taking the floor (English; other languages
# rely on duration: short speech with no words of these lists is a backchannel only if
# the recogniser heard no words at all).
_BACKCHANNEL_EN = frozenset(
    """uh huh uhhuh uh-huh mm hmm mhm mm-hmm hm hmm mmm um umm yeah yea yep yup yes ya
    okay ok k alright right sure fine cool nice great good wow oh ah aha i see got it
    true exactly totally absolutely indeed really interesting gotcha""".split()
)
# Words that ask for the floor even in a short utterance.
_FLOOR_EN = frozenset(
    """wait stop hold hang sorry excuse pardon no nope but actually question what why
    how when where who hey listen""".split()
)
_WORD = re.compile(r"[\w'-]+")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def is_backchannel(text: str, language: str = "en") -> bool:
    """Whether a short utterance over the reply leaves the floor to the assistant."""
    words = _words(text)
    if not words:
        return True  # a noise the recogniser heard no words in
    if language != "en":
        return False
    return len(words) <= 4 and all(w in _BACKCHANNEL_EN for w in words)


def asks_for_floor(text: str, language: str = "en") -> bool:
    """Whether interim words already say this is an interruption."""
    return language == "en" and any(w in _FLOOR_EN for w in _words(text))


@dataclass(frozen=True)
class YieldSettings:
    interruption: str = "adaptive"
    backchannel_ms: int = 1000  # confirmed speech longer than this is an interruption
    pause_limit_ms: int = 1500  # a paused reply is decided by then at the latest

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> YieldSettings:
        return cls(
            interruption=str(settings.get("interruption", "adaptive")),
            backchannel_ms=int(settings.get("backchannel_ms", 1000)),
            pause_limit_ms=int(settings.get("pause_limit_ms", 1500)),
        )
