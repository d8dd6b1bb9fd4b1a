"""End of turn on fake providers (`fakes.py`), on virtual time: the words read while the
silence lasts, the recogniser that is late with them, and the per-session waits. A tone
is speech, the recogniser hears what it is told, the turn model is as sure as it is told,
so each decision is exact and the same on every machine."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest
import pytest_asyncio

from parley.engine import events as ev
from parley.engine.endpointing import EndpointPolicy
from parley.engine.state import State
from tests.doubles.llm_server import LLMServer, Script, text
from tests.engine.fakes import FakeSTT, FakeSTTStream, FixedTurnModel, on_fake_ears, voice
from tests.engine.harness import FRAME_S, Harness, Providers

pytestmark = pytest.mark.asyncio(loop_scope="module")

POLICY = EndpointPolicy(fast_ms=300, normal_ms=1200, slow_ms=3000)


class LateStream(FakeSTTStream):
    """A recogniser whose last decode lands when the test says: until then `partial()`
    gives `stale` and the stream is not `caught_up` (as Whisper's, while the decode of
    the audio up to the pause runs)."""

    def __init__(self, script: list[str], late: LateSTT) -> None:
        super().__init__(script)
        self._late = late

    @property
    def caught_up(self) -> bool:
        return self._late.landed

    def partial(self) -> str:
        return self._text() if self._late.landed else self._late.stale


class LateSTT(FakeSTT):
    def __init__(self) -> None:
        super().__init__()
        self.landed = True
        self.stale = ""

    def late(self, stale: str) -> None:
        self.landed, self.stale = False, stale

    async def open(self, language: str, on_partial: object = None) -> LateStream:
        return LateStream(self.script, self)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def fake(providers: Providers) -> AsyncIterator[Providers]:
    yield on_fake_ears(providers, LateSTT())


def recogniser(p: Providers) -> LateSTT:
    assert isinstance(p.stt, LateSTT)
    p.stt.landed, p.stt.stale = True, ""
    return p.stt


def decided(h: Harness) -> bool:
    return bool(h.log.decisions)


async def start(fake: Providers, settings: dict[str, Any] | None = None) -> Harness:
    return await Harness.start(
        fake, policy=POLICY, turn_model=FixedTurnModel(0.95), settings=settings
    )


async def speak(h: Harness, heard: str) -> float:
    """The user says `heard` (a tone the recogniser hears as that); its last voiced frame."""
    stt = h.providers.stt
    assert isinstance(stt, FakeSTT)
    stt.say(heard)
    await h.silence(0.2)
    await h.feed(voice(1.0))
    return h.last_voiced_before(h.clock.now())


async def test_words_that_land_in_the_silence_decide_not_the_stale_ones(
    fake: Providers, llm_server: LLMServer
) -> None:
    """ "I would like a table for": at the pause the recogniser still shows the words
    before "for" (a confident model and finished words: the fast wait). The turn is not
    taken on them; when the decode lands, "for" holds it for the slow wait."""
    llm_server.queue(Script(text("For how many?")))
    stt = recogniser(fake)
    stt.late("I would like a table")
    h = await start(fake)
    try:
        last = await speak(h, "I would like a table for")
        await h.silence(0.6)  # twice the fast wait
        assert h.conv.state is State.ENDPOINTING and not decided(h)
        stt.landed = True
        await h.silence(1.0)  # past the normal wait too: the words now say "slow"
        assert h.conv.state is State.ENDPOINTING and not decided(h)
        await h.until(lambda: decided(h), max_seconds=4)
        [decision] = h.log.decisions
        assert decision.need_ms == POLICY.slow_ms
        assert abs(decision.t - last - POLICY.slow_ms / 1000) <= FRAME_S
    finally:
        await h.close()


async def test_a_recogniser_that_stays_late_is_waited_for_the_normal_time_at_most(
    fake: Providers, llm_server: LLMServer
) -> None:
    llm_server.queue(Script(text("Sure.")))
    recogniser(fake).late("can you help me")
    h = await start(fake)
    try:
        last = await speak(h, "can you help me with my order")
        await h.until(lambda: decided(h), max_seconds=4)
        [decision] = h.log.decisions
        assert decision.need_ms == POLICY.fast_ms  # what the stale words asked for ...
        assert abs(decision.t - last - POLICY.normal_ms / 1000) <= FRAME_S  # ... capped
        await h.until(lambda: bool(h.sink.events(ev.TurnEnd, role="assistant")), 8)
        [user, _] = await h.stored()
        assert user.text == "can you help me with my order"
    finally:
        await h.close()


async def test_words_that_are_on_time_decide_at_once(
    fake: Providers, llm_server: LLMServer
) -> None:
    llm_server.queue(Script(text("Sure.")))
    recogniser(fake)
    h = await start(fake)
    try:
        last = await speak(h, "can you help me with my order")
        await h.until(lambda: decided(h), max_seconds=4)
        [decision] = h.log.decisions
        assert decision.need_ms == POLICY.fast_ms
        assert abs(decision.t - last - POLICY.fast_ms / 1000) <= FRAME_S
    finally:
        await h.close()


@pytest.mark.parametrize(
    ("heard", "settings", "wait_ms"),
    [
        ("can you help me with my order", {"end_of_turn_fast_ms": 700}, 700),
        ("can you help me with my order", {"end_of_turn_fast_ms": 0}, 160),  # the VAD pause
        ("I would like a table for", {"end_of_turn_slow_ms": 2000}, 2000),
        ("yes", {"end_of_turn_normal_ms": 500}, 500),  # one word: the normal wait
    ],
)
async def test_the_session_settings_set_the_waits(
    fake: Providers, llm_server: LLMServer, heard: str, settings: dict[str, int], wait_ms: int
) -> None:
    """The same speech and the same model, another session's waits: another decision
    (the server's policy here is fast 300 / normal 1200 / slow 3000 ms)."""
    llm_server.queue(Script(text("Sure.")))
    recogniser(fake)
    h = await start(fake, settings)
    try:
        last = await speak(h, heard)
        await h.until(lambda: decided(h), max_seconds=5)
        [decision] = h.log.decisions
        assert abs(decision.t - last - wait_ms / 1000) <= FRAME_S, (decision, last)
        assert np.isclose(decision.probability or 0, 0.95)
    finally:
        await h.close()
