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

import asyncio
import logging
import re
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from parley.clock import Clock
    from parley.engine.listener import Listener
    from parley.engine.state import Paused, StateMachine

log = logging.getLogger("parley.engine")

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


VOICE_GONE_GRACE_S = 0.096  # a voice that comes back within three frames is the same one


class YieldHost(Protocol):
    """The conversation, which moves the state (`Yielder` only decides)."""

    id: str
    listener: Listener

    sm: StateMachine

    def resume(self, paused: Paused, why: str) -> None: ...

    def interrupt(self, paused: Paused, why: str) -> None: ...

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]: ...


class Yielder:
    """Decides a paused reply, from the facts the conversation hands it and its own
    timers; each verdict goes back to the conversation (`resume` / `interrupt`)."""

    def __init__(self, host: YieldHost, clock: Clock, language: str, settings: YieldSettings):
        self._host = host
        self._clock = clock
        self._language = language
        self.settings = settings

    def _still(self, paused: Paused) -> Paused | None:
        """The pause in force, if it is still `paused` (same reply, same moment)."""
        from parley.engine.state import Paused

        phase = self._host.sm.phase
        if isinstance(phase, Paused) and phase.job is paused.job and phase.since == paused.since:
            return phase
        return None

    def paused(self, paused: Paused) -> None:
        """A reply was just paused: nothing stays paused past `pause_limit_ms`."""
        self._host.spawn(self._limit(paused), "pause_limit")

    async def _limit(self, paused: Paused) -> None:
        await self._clock.sleep(self.settings.pause_limit_ms / 1000)
        if (now := self._still(paused)) is not None:
            if now.user is None:
                self._host.resume(now, "pause limit: resumed")
            else:
                self._host.interrupt(now, "pause limit: interrupted")

    def voice_gone(self, paused: Paused) -> None:
        """The voice faded unconfirmed (a cough, a click): resume, unless it comes back
        within a breath (the onset of a word can dip for a frame or two)."""
        self._host.spawn(self._gone(paused), "voice_gone")

    async def _gone(self, paused: Paused) -> None:
        await self._clock.sleep(VOICE_GONE_GRACE_S)
        now = self._still(paused)
        if now is not None and now.user is None and not self._host.listener.voiced:
            self._host.resume(now, "a noise: resumed")

    def speech_confirmed(self, paused: Paused) -> None:
        """Confirmed speech longer than a backchannel takes the floor."""
        self._host.spawn(self._long(paused), "backchannel_limit")

    async def _long(self, paused: Paused) -> None:
        await self._clock.sleep(self.settings.backchannel_ms / 1000)
        now = self._still(paused)
        if now is not None and now.user is paused.user and self._host.listener.in_speech:
            self._host.interrupt(now, "speech went on: interrupted")

    def words(self, paused: Paused, text: str) -> None:
        """Interim words of the speech over the reply."""
        if asks_for_floor(text, self._language):
            self._host.interrupt(paused, "words ask for the floor")

    def speech_over(self, paused: Paused, final: asyncio.Task[str]) -> None:
        """Short speech over the reply ended: its final words decide."""
        self._host.spawn(self._judge(paused, final), "judge")

    async def _judge(self, paused: Paused, final: asyncio.Task[str]) -> None:
        text = await asyncio.shield(final)
        now = self._still(paused)
        if now is None or now.user is not paused.user:
            return
        log.info("session=%s speech over the reply: %r", self._host.id, text)
        if is_backchannel(text, self._language):
            self._host.resume(now, "backchannel: resumed")
        else:
            self._host.interrupt(now, "interrupted")
