"""A reply resumed after a backchannel restarts from the start of the word the pause
cut (on fake ears: a tone is speech, the recogniser hears what it is told; the reply is
real espeak-ng speech, paced on virtual time)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from parley.engine import events as ev
from parley.engine.endpointing import EndpointPolicy
from parley.engine.reply import Reply
from parley.engine.state import Paused
from tests.doubles.llm_server import LLMServer, Script, text
from tests.engine.fakes import FakeSTT, FakeVAD, FixedTurnModel, voice
from tests.engine.harness import Harness, Providers, turn_summary

pytestmark = pytest.mark.asyncio(loop_scope="module")

POLICY = EndpointPolicy(fast_ms=300, normal_ms=1200, slow_ms=3000)
LONG = "One two three four. Five six seven eight. Nine ten eleven twelve. The end."


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def fake(providers: Providers) -> AsyncIterator[Providers]:
    async def no_barrier() -> None:
        return None

    yield dataclasses.replace(
        providers,
        vad=FakeVAD(),
        stt=FakeSTT(),
        stt_barrier=no_barrier,  # type: ignore[arg-type]
    )


async def test_a_backchannel_resumes_from_the_start_of_the_cut_word(
    fake: Providers, llm_server: LLMServer
) -> None:
    llm_server.queue(Script(text(LONG)))
    stt = fake.stt
    assert isinstance(stt, FakeSTT)
    h = await Harness.start(fake, policy=POLICY, turn_model=FixedTurnModel(0.95))
    try:
        stt.say("count for me please")
        await h.silence(0.2)
        await h.feed(voice(0.8))
        await h.until(lambda: bool(h.sink.events(ev.TurnStart, role="assistant")), 5)
        await h.silence(1.05)  # into a word of the second sentence
        stt.say("uh huh")
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
        stt = fake.stt
        assert isinstance(stt, FakeSTT)
        stt.say("count for me please")
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
