"""Who has the floor, on fake providers (`fakes.py`): a tone is speech, the recogniser
hears what it is told, the turn model is as sure as it is told. So these run in
milliseconds and decide the same on every machine; `test_yield.py` and
`test_end_of_turn.py` run the same decisions on real models and speech."""

from __future__ import annotations

from collections.abc import AsyncIterator

import numpy as np
import pytest
import pytest_asyncio

from parley.engine import events as ev
from parley.engine.endpointing import EndpointPolicy
from parley.engine.reply import Reply
from parley.engine.state import Paused
from tests.doubles.llm_server import LLMServer, Script, text
from tests.engine.fakes import FakeSTT, FixedTurnModel, on_fake_ears, voice
from tests.engine.harness import Harness, Providers, turn_summary

pytestmark = pytest.mark.asyncio(loop_scope="module")

POLICY = EndpointPolicy(fast_ms=300, normal_ms=1200, slow_ms=3000)
LONG = "One two three four. Five six seven eight. Nine ten eleven twelve. The end."


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def fake(providers: Providers) -> AsyncIterator[Providers]:
    yield on_fake_ears(providers, FakeSTT())


def stt(p: Providers) -> FakeSTT:
    assert isinstance(p.stt, FakeSTT)
    return p.stt


async def into_the_reply(h: Harness, question: str) -> None:
    stt(h.providers).say(question)
    await h.silence(0.2)
    await h.feed(voice(0.8))
    await h.until(lambda: bool(h.sink.events(ev.TurnStart, role="assistant")), max_seconds=5)
    await h.silence(1.0)


def assistant_ends(h: Harness) -> int:
    return len(h.sink.events(ev.TurnEnd, role="assistant"))


async def test_a_short_backchannel_resumes_the_reply(
    fake: Providers, llm_server: LLMServer
) -> None:
    llm_server.queue(Script(text(LONG)))
    h = await Harness.start(fake, policy=POLICY, turn_model=FixedTurnModel(0.95))
    try:
        await into_the_reply(h, "count for me please")
        stt(fake).say("uh huh")
        await h.feed(voice(0.4))
        await h.until(lambda: assistant_ends(h) == 1, max_seconds=20)
        assert [t.new for t in h.log.transitions if "paused" in (t.old, t.new)] == [
            "paused",
            "speaking",
        ]
        assert h.log.went("speaking", "backchannel: resumed")
        turns = await h.stored()
        assert turn_summary(turns) == [("user", False), ("assistant", False)]
        assert turns[1].text == LONG
    finally:
        await h.close()


@pytest.mark.parametrize("words", ["no I meant something else", "wait"])
async def test_other_words_take_the_floor(
    fake: Providers, llm_server: LLMServer, words: str
) -> None:
    llm_server.queue(Script(text(LONG)), Script(text("Sure.")))
    h = await Harness.start(fake, policy=POLICY, turn_model=FixedTurnModel(0.95))
    try:
        await into_the_reply(h, "count for me please")
        stt(fake).say(words)
        await h.feed(voice(0.4))
        await h.until(lambda: assistant_ends(h) == 2, max_seconds=20)
        [paused] = h.log.went("paused")
        [taken] = [t for t in h.log.transitions if t.old == "paused"]
        assert taken.why == "interrupted" and taken.new == "endpointing"
        [cut] = h.sink.events(ev.Interrupted)
        turns = await h.stored()
        assert [t.role for t in turns] == ["user", "assistant", "user", "assistant"]
        assert turns[1].interrupted and turns[1].duration_ms == cut.played_ms
        assert turns[2].text == words
        assert h.log.errors == []
    finally:
        await h.close()


async def test_speech_past_the_backchannel_limit_takes_the_floor_while_it_goes_on(
    fake: Providers, llm_server: LLMServer
) -> None:
    llm_server.queue(Script(text(LONG)), Script(text("Sure.")))
    h = await Harness.start(
        fake, policy=POLICY, turn_model=FixedTurnModel(0.95), settings={"backchannel_ms": 600}
    )
    try:
        await into_the_reply(h, "count for me please")
        stt(fake).say("yeah yeah yeah yeah yeah yeah")
        await h.feed(voice(1.2))
        [taken] = [t for t in h.log.transitions if t.old == "paused"]
        assert taken.new == "user_speaking" and taken.why == "speech went on: interrupted"
        [paused] = h.log.went("paused")
        assert abs(taken.t - paused.t - 0.6) < 0.2  # confirmed ~130 ms in, then 600 ms
    finally:
        await h.close()


async def test_a_click_too_short_to_be_speech_resumes_at_once(
    fake: Providers, llm_server: LLMServer
) -> None:
    llm_server.queue(Script(text(LONG)))
    h = await Harness.start(fake, policy=POLICY, turn_model=FixedTurnModel(0.95))
    try:
        await into_the_reply(h, "count for me please")
        await h.feed(voice(0.064))  # two frames: never confirmed as speech
        await h.until(lambda: assistant_ends(h) == 1, max_seconds=20)
        [resumed] = h.log.went("speaking", "a noise: resumed")
        [paused] = h.log.went("paused")
        assert resumed.t - paused.t <= 0.064 + 0.096 + 1e-9  # the voice, then the grace
        assert h.sink.events(ev.Interrupted) == []
        assert turn_summary(await h.stored()) == [("user", False), ("assistant", False)]
    finally:
        await h.close()


async def test_the_pause_limit_resumes_a_voice_that_never_settles(
    fake: Providers, llm_server: LLMServer
) -> None:
    """A candidate that flickers (voiced, dipping, voiced…) but is never confirmed must
    not hold the reply for ever: it is resumed at `pause_limit_ms`."""
    llm_server.queue(Script(text(LONG)))
    h = await Harness.start(
        fake, policy=POLICY, turn_model=FixedTurnModel(0.95), settings={"pause_limit_ms": 600}
    )
    try:
        await into_the_reply(h, "count for me please")
        flicker = np.concatenate([voice(0.064), np.zeros(512, dtype=np.int16)] * 12)
        await h.feed(flicker)
        assert h.log.went("speaking", "pause limit: resumed")
    finally:
        await h.close()


async def test_a_backchannel_resumes_from_the_start_of_the_cut_word(
    fake: Providers, llm_server: LLMServer
) -> None:
    """A resumed reply restarts from the start of the word the pause cut."""
    stt(fake).script.clear()  # (what earlier tests left unsaid)
    llm_server.queue(Script(text(LONG)))
    h = await Harness.start(fake, policy=POLICY, turn_model=FixedTurnModel(0.95))
    try:
        await into_the_reply(h, "count for me please")
        await h.silence(0.05)  # into a word of the second sentence
        stt(fake).say("uh huh")
        await h.feed(voice(0.032))  # the onset pauses the reply ...
        phase = h.conv.sm.phase
        assert isinstance(phase, Paused)
        reply: Reply = phase.job.reply
        assert reply.pacer is not None
        held, sent = reply.played_ms, reply.sent_ms
        cut_word_start = reply.word_start(held)
        assert cut_word_start < held  # the pause fell inside a word
        await h.feed(voice(0.37))  # ... and "uh huh" resumes it
        await h.until(lambda: bool(h.sink.events(ev.TurnEnd, role="assistant")), 20)

        [paused] = h.sink.events(ev.ReplyPaused)
        [resumed] = h.sink.events(ev.ReplyResumed)
        assert paused.played_ms == resumed.played_ms == int(held)
        assert resumed.from_ms == int(cut_word_start)
        # nothing went out while paused; the resume is announced before the audio again
        log = h.sink.log
        i_paused = next(i for i, r in enumerate(log) if r.event is paused)
        i_resumed = next(i for i, r in enumerate(log) if r.event is resumed)
        assert all(r.event is not None for r in log[i_paused + 1 : i_resumed])
        # the cut word's audio (from its start to what had been sent) came again
        rate = h.sink.audio_chunks()[0].sample_rate
        received_ms = sum(r.samples for r in h.sink.audio_chunks()) * 1000 / rate
        again_ms = sent - cut_word_start
        assert received_ms == pytest.approx(reply.spoken[-1].end_ms + again_ms, abs=1.0)
        # one whole assistant turn; "uh huh" is not a turn
        turns = await h.stored()
        assert turn_summary(turns) == [("user", False), ("assistant", False)]
        assert turns[1].text == LONG
        assert h.sink.violations == [] and h.log.errors == []
    finally:
        await h.close()


async def test_the_cut_word_starts_where_heard_text_counts_it_from(
    fake: Providers, llm_server: LLMServer
) -> None:
    """Between two sentences nothing is cut (the position itself); inside a word, its
    start as `heard_text` counts words (evenly over the sentence's audio)."""
    llm_server.queue(Script(text(LONG)))
    h = await Harness.start(fake, policy=POLICY, turn_model=FixedTurnModel(0.95))
    try:
        stt(fake).say("count for me please")
        await h.silence(0.2)
        await h.feed(voice(0.8))
        await h.until(lambda: bool(h.sink.events(ev.TurnStart, role="assistant")), 5)
        phase = h.conv.sm.phase
        reply: Reply = phase.job.reply  # type: ignore[union-attr]
        assert reply.word_start(reply.spoken[0].end_ms) == reply.spoken[0].end_ms
        assert reply.word_start(reply.spoken[0].start_ms) == reply.spoken[0].start_ms
        words = LONG.split(".")[0].split()
        first = reply.spoken[0]
        span = (first.end_ms - first.start_ms) / len(words)
        # inside the second word: back to its start, as heard_text counts words
        assert reply.word_start(first.start_ms + 1.5 * span) == pytest.approx(first.start_ms + span)
        assert reply.heard_text(first.start_ms + 1.5 * span) == "One"
    finally:
        await h.close()
