"""Yielding in two steps on virtual time (`engine/yielding.py`): speech over a reply
pauses it at once; a backchannel or a noise resumes it, anything else cuts it."""

from __future__ import annotations

import numpy as np
import pytest

from parley.engine import events as ev
from parley.engine.endpointing import EndpointPolicy
from tests.doubles.llm_server import LLMServer, Script, text
from tests.engine.conftest import FEMALE, MALE, synthesize
from tests.engine.harness import FRAME_S, Harness, Providers, turn_summary

pytestmark = pytest.mark.asyncio(loop_scope="module")

POLICY = EndpointPolicy(fast_ms=300, normal_ms=1200, slow_ms=3000)
LINES = {
    "tomorrow": ("See you tomorrow", MALE),
    "okay": ("Okay.", FEMALE),
    "yeah": ("Yeah.", FEMALE),
    "right": ("Right.", MALE),
    "sure": ("Sure.", FEMALE),
    "wait": ("Wait, stop. I have a question about the train.", FEMALE),
    "yeah_but": ("Yeah, but what about the weather tomorrow in the mountains?", FEMALE),
}
LONG = (
    "The weather today is sunny with a light breeze from the west. "
    "In the afternoon, clouds will gather over the hills and the wind will pick up. "
    "By evening, expect light rain and cooler air across the whole region. "
    "Tomorrow should be bright and warm again."
)


@pytest.fixture(scope="module")
def speech() -> dict[str, np.ndarray]:
    return synthesize(LINES)


def assistant_ends(h: Harness) -> int:
    return len(h.sink.events(ev.TurnEnd, role="assistant"))


def audio_times(h: Harness) -> list[float]:
    return [c.t for c in h.sink.audio_chunks()]


async def into_the_reply(h: Harness, speech: dict[str, np.ndarray], sentences: int = 2) -> None:
    await h.silence(0.3)
    await h.feed(speech["tomorrow"])
    await h.until(
        lambda: len(h.sink.events(ev.TranscriptEvent, role="assistant")) == sentences,
        max_seconds=30,
    )
    await h.silence(0.5)


@pytest.mark.parametrize("line", ["okay", "right", "sure"])
async def test_a_backchannel_pauses_the_reply_and_it_goes_on(
    providers: Providers, llm_server: LLMServer, speech: dict[str, np.ndarray], line: str
) -> None:
    llm_server.queue(Script(text(LONG)))
    h = await Harness.start(providers, policy=POLICY)
    try:
        await into_the_reply(h, speech)
        said_at = h.clock.now()
        await h.feed(speech[line])
        await h.until(lambda: assistant_ends(h) == 1, max_seconds=20)

        [paused] = h.log.went("paused", "voice over the reply")
        [resumed] = [t for t in h.log.transitions if t.old == "paused"]
        assert resumed.new == "speaking" and resumed.why == "backchannel: resumed"
        # the reply stops within four frames (128 ms) of the clip's start (a fricative such
        # as "s" scores low for a frame or two), and no audio goes out while paused
        assert paused.t - said_at <= 4 * FRAME_S + 1e-9
        assert not [t for t in audio_times(h) if paused.t < t < resumed.t]
        # it goes on soon after the backchannel ended
        backchannel_end = said_at + speech[line].size / 16000
        assert resumed.t - backchannel_end <= 0.6
        assert [
            type(e) for e in h.sink.events() if isinstance(e, ev.ReplyPaused | ev.ReplyResumed)
        ] == [
            ev.ReplyPaused,
            ev.ReplyResumed,
        ]
        assert h.sink.events(ev.Interrupted) == []
        # one assistant turn, all of it; the backchannel is not a turn
        turns = await h.stored()
        assert turn_summary(turns) == [("user", False), ("assistant", False)]
        assert turns[1].text == LONG
        assert len(h.sink.events(ev.TurnStart, role="user")) == 1
        assert h.log.errors == []
    finally:
        await h.close()


async def test_a_real_interruption_stops_the_reply_where_it_paused(
    providers: Providers, llm_server: LLMServer, speech: dict[str, np.ndarray]
) -> None:
    llm_server.queue(Script(text(LONG)), Script(text("Of course, go ahead.")))
    h = await Harness.start(providers, policy=POLICY)
    try:
        await into_the_reply(h, speech)
        said_at = h.clock.now()
        await h.feed(speech["wait"])
        await h.until(lambda: assistant_ends(h) == 2, max_seconds=20)

        [paused] = h.log.went("paused", "voice over the reply")
        assert paused.t - said_at <= 4 * FRAME_S + 1e-9
        [taken] = [t for t in h.log.transitions if t.old == "paused"]
        assert taken.new in ("user_speaking", "endpointing")
        [interrupted] = h.sink.events(ev.Interrupted)
        [held] = h.sink.events(ev.ReplyPaused)
        assert interrupted.played_ms == held.played_ms  # heard: up to the pause
        assert h.sink.events(ev.ReplyResumed) == []
        turns = await h.stored()
        assert turn_summary(turns) == [
            ("user", False),
            ("assistant", True),
            ("user", False),
            ("assistant", False),
        ]
        assert turns[1].duration_ms == interrupted.played_ms
        assert LONG.startswith(turns[1].text) and turns[1].text != LONG
        assert "question" in turns[2].text or "train" in turns[2].text or len(turns[2].text) > 10
    finally:
        await h.close()


async def test_a_backchannel_that_goes_on_into_a_question_takes_the_floor(
    providers: Providers, llm_server: LLMServer, speech: dict[str, np.ndarray]
) -> None:
    llm_server.queue(Script(text(LONG)), Script(text("It will be cold up there.")))
    h = await Harness.start(providers, policy=POLICY)
    try:
        await into_the_reply(h, speech)
        await h.feed(speech["yeah_but"])
        await h.until(lambda: assistant_ends(h) == 2, max_seconds=20)
        assert len(h.sink.events(ev.Interrupted)) == 1
        assert h.sink.events(ev.ReplyResumed) == []
        turns = await h.stored()
        assert [t.role for t in turns] == ["user", "assistant", "user", "assistant"]
        assert turns[1].interrupted
    finally:
        await h.close()


async def test_a_backchannel_in_the_last_second_of_a_reply(
    providers: Providers, llm_server: LLMServer, speech: dict[str, np.ndarray]
) -> None:
    llm_server.queue(Script(text(LONG)))
    h = await Harness.start(providers, policy=POLICY)
    try:
        await into_the_reply(h, speech, sentences=4)  # the last sentence is playing
        await h.feed(speech["okay"])
        await h.until(lambda: assistant_ends(h) == 1, max_seconds=20)
        assert h.sink.events(ev.Interrupted) == []
        turns = await h.stored()
        assert turn_summary(turns) == [("user", False), ("assistant", False)]
        assert turns[1].text == LONG
    finally:
        await h.close()


async def test_with_interruption_none_the_assistant_never_yields(
    providers: Providers, llm_server: LLMServer, speech: dict[str, np.ndarray]
) -> None:
    llm_server.queue(Script(text(LONG)))
    h = await Harness.start(providers, policy=POLICY, settings={"interruption": "none"})
    try:
        await into_the_reply(h, speech)
        await h.feed(speech["wait"])
        await h.until(lambda: assistant_ends(h) == 1, max_seconds=20)
        assert h.log.went("paused") == [] and h.sink.events(ev.Interrupted) == []
        turns = await h.stored()
        assert turn_summary(turns) == [("user", False), ("assistant", False)]
        assert turns[1].text == LONG
    finally:
        await h.close()


async def test_with_interruption_immediate_confirmed_speech_cuts_at_once(
    providers: Providers, llm_server: LLMServer, speech: dict[str, np.ndarray]
) -> None:
    llm_server.queue(Script(text(LONG)), Script(text("Fine.")))
    h = await Harness.start(providers, policy=POLICY, settings={"interruption": "immediate"})
    try:
        await into_the_reply(h, speech)
        await h.feed(speech["okay"])  # even a backchannel
        await h.until(lambda: assistant_ends(h) >= 1, max_seconds=20)
        assert h.log.went("paused") == []
        assert len(h.log.went("user_speaking", "barge-in")) == 1
        assert len(h.sink.events(ev.Interrupted)) == 1
    finally:
        await h.close()
