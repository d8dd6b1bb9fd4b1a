"""End of turn on virtual time: when the turn is decided, and what happens when the user
goes on after a pause (DESIGN principles 1, 5, 8).

pocketsphinx hears espeak-ng speech poorly; the lines below were picked for what it (and
Smart Turn) make of them, which is the same in every run (see `harness.py`):

- "I am looking for" (male): final "looking for": an unfinished sentence, although Smart
  Turn is confident it is complete (p≈0.89);
- "See you tomorrow" (male): Smart Turn confident (p≈0.98) → the fast wait;
- "Where is the nearest hospital?" (female): Smart Turn unsure (p≈0.2) → the normal wait.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from parley.engine import events as ev
from parley.engine.endpointing import EndpointPolicy, ends_unfinished
from parley.engine.state import State
from parley.providers.stt.openai_compat import OpenAICompatSTT
from tests.doubles.llm_server import LLMServer, Script, delay, text
from tests.doubles.stt_server import STTServer, transcript
from tests.engine.conftest import FEMALE, MALE, synthesize
from tests.engine.fakes import FixedTurnModel
from tests.engine.harness import FRAME_S, Harness, Providers

pytestmark = pytest.mark.asyncio(loop_scope="module")

POLICY = EndpointPolicy(fast_ms=300, normal_ms=1200, slow_ms=3000)
LINES = {
    "looking_for": ("I am looking for", MALE),
    "tomorrow": ("See you tomorrow", MALE),
    "hospital": ("Where is the nearest hospital?", FEMALE),
    "go_to_the": ("I want to go to the", MALE),
    "table_for": ("I would like to book a table for", MALE),
    "two_people": ("two people tonight", MALE),
}


@pytest.fixture(scope="module")
def speech() -> dict[str, np.ndarray]:
    return synthesize(LINES)


def replied(h: Harness) -> bool:
    return h.sink.first(ev.TurnEnd, role="assistant") is not None


@pytest.mark.parametrize("line", ["looking_for", "tomorrow", "hospital"])
async def test_the_turn_is_decided_after_the_silence_the_policy_asks_for(
    providers: Providers, llm_server: LLMServer, speech: dict[str, np.ndarray], line: str
) -> None:
    llm_server.queue(Script(text("Sure.")))
    h = await Harness.start(providers, policy=POLICY)
    try:
        await h.silence(0.3)
        start = h.clock.now()
        await h.feed(speech[line])
        await h.until(lambda: replied(h), max_seconds=8)

        [decision] = h.log.decisions
        [decided] = h.log.went("preparing", "end of turn decided")
        [paused] = h.log.went("endpointing", "user went quiet")
        assert decided.t == decision.t
        # nothing else happened between the pause and the decision
        assert [t.new for t in h.log.transitions if paused.t < t.t < decided.t] == []

        # The wait is the policy's, given the signals it had. (The partial transcript the
        # engine read is, by the STT barrier, the decoded audio: the final transcript
        # differs from it at most by the decoder's end-of-utterance pass.)
        [user] = [t for t in await h.stored() if t.role == "user"]
        expected = POLICY.required_silence_ms(decision.probability, user.text, decision.speech_ms)
        assert decision.need_ms == expected, (decision, user.text)
        if line == "looking_for":
            assert ends_unfinished(user.text), user.text
            # whatever the real model scores the fragment on this CPU (see fakes.py)
            assert decision.need_ms == POLICY.slow_ms
        else:
            assert decision.need_ms in (POLICY.fast_ms, POLICY.normal_ms)

        # ... counted from the last voiced frame (by the driver's own VAD pass), on the clock
        last_voiced = h.last_voiced_before(paused.t)
        waited_ms = (decided.t - last_voiced) * 1000
        assert abs(waited_ms - decision.need_ms) <= FRAME_S * 1000, (waited_ms, decision)
        # the user went quiet at the end of the clip (within two frames of VAD hangover)
        speech_end = start + speech[line].size / 16000
        assert -2 * FRAME_S <= last_voiced - speech_end <= FRAME_S
    finally:
        await h.close()


async def test_words_that_cannot_end_a_sentence_beat_a_confident_model(
    providers: Providers, llm_server: LLMServer, speech: dict[str, np.ndarray]
) -> None:
    """ "I am looking for": a model that is sure the turn is over (0.974 is what the
    int8 model scores it on one CPU) does not end it; the words hold it for the slow wait."""
    llm_server.queue(Script(text("Sure.")))
    model = FixedTurnModel(0.974)
    h = await Harness.start(providers, policy=POLICY, turn_model=model)
    try:
        await h.silence(0.3)
        await h.feed(speech["looking_for"])
        await h.until(lambda: replied(h), max_seconds=8)
        [decision] = h.log.decisions
        [user] = [t for t in await h.stored() if t.role == "user"]
        assert ends_unfinished(user.text), user.text
        assert model.calls == 1 and decision.probability == 0.974
        assert decision.need_ms == POLICY.slow_ms
    finally:
        await h.close()


@pytest.mark.parametrize(
    ("line", "probability", "wait"), [("looking_for", 0.95, "fast"), ("hospital", 0.2, "normal")]
)
async def test_without_interim_words_the_model_decides_alone(
    providers: Providers,
    llm_server: LLMServer,
    speech: dict[str, np.ndarray],
    line: str,
    probability: float,
    wait: str,
) -> None:
    """A remote recogniser (OpenAI-compatible, no interim results) gives no words before
    the end: Smart Turn alone sets the wait. "I am looking for" is a fragment the words
    would hold for the slow wait; with no words, the model's confidence ends it fast."""
    llm_server.queue(Script(text("Sure.")))

    async def no_barrier() -> None:
        return None

    with STTServer() as stt_server:
        stt_server.queue(transcript("the words, at the end"))
        remote = OpenAICompatSTT(stt_server.base_url)
        h = await Harness.start(
            dataclasses.replace(providers, stt=remote, stt_barrier=no_barrier),
            policy=POLICY,
            turn_model=FixedTurnModel(probability),
        )
        try:
            await h.silence(0.3)
            await h.feed(speech[line])
            await h.until(lambda: replied(h), max_seconds=8)
            [decision] = h.log.decisions
            expected = POLICY.fast_ms if wait == "fast" else POLICY.normal_ms
            assert decision.need_ms == expected, decision
            assert decision.need_ms == POLICY.required_silence_ms(
                decision.probability, None, decision.speech_ms
            )
            [user] = [t for t in await h.stored() if t.role == "user"]
            assert user.text == "the words, at the end"
            assert len(stt_server.transcriptions) == 1
        finally:
            await h.close()
            await remote.close()


async def test_speech_resuming_while_endpointing_keeps_the_turn(
    providers: Providers, llm_server: LLMServer, speech: dict[str, np.ndarray]
) -> None:
    """ "I want to go to the … two people tonight": the pause (600 ms) is shorter than
    the wait an unfinished sentence (or an unsure model) gets, so the turn is never
    decided in between."""
    llm_server.queue(Script(text("Sure.")))
    h = await Harness.start(providers, policy=POLICY, turn_model=FixedTurnModel(0.2))
    try:
        await h.silence(0.3)
        await h.feed(speech["go_to_the"])
        await h.silence(0.6)
        assert h.conv.state is State.ENDPOINTING
        await h.feed(speech["two_people"])
        await h.until(lambda: replied(h), max_seconds=8)

        assert len(h.sink.events(ev.TurnStart, role="user")) == 1
        [end] = h.sink.events(ev.TurnEnd, role="user")
        assert not end.discarded
        resumed = h.log.went("user_speaking", "speech resumed before the turn was decided")
        assert len(resumed) == 1
        assert len(h.log.decisions) == 1 and h.log.decisions[0].t > resumed[0].t
        turns = await h.stored()
        assert [t.role for t in turns] == ["user", "assistant"]
        # the turn spans both parts and the pause
        both = (speech["go_to_the"].size + speech["two_people"].size) / 16
        assert turns[0].duration_ms >= both + 500
        messages = llm_server.chat_requests[0].body["messages"]
        assert [m["role"] for m in messages] == ["system", "user"]
        assert messages[1]["content"] == turns[0].text
        assert h.log.errors == []
    finally:
        await h.close()


async def test_speech_resuming_after_the_decision_continues_the_turn(
    providers: Providers, llm_server: LLMServer, speech: dict[str, np.ndarray]
) -> None:
    """ "I would like to book a table for" is taken as finished (Smart Turn is sure, the
    recogniser heard "… go far"); the LLM takes its time (real time); the user goes on
    before any reply audio: the reply in preparation is dropped and the turn goes on."""
    llm_server.queue(
        Script(delay(3.0), text("Of course. For how many?")),  # never heard
        Script(text("A table for two, tonight. Done.")),
    )
    h = await Harness.start(providers, policy=POLICY)
    h.wait_llm = False  # virtual time runs while the LLM thinks
    try:
        await h.silence(0.3)
        await h.feed(speech["table_for"])
        await h.until(lambda: h.conv.state is State.PREPARING, max_seconds=4)
        # the first request reached the LLM (the STT final came first)
        await h.wait_real(lambda: len(llm_server.chat_requests) == 1)
        await h.silence(0.4)
        assert h.sink.audio_chunks() == []  # the reply is still being prepared
        await h.feed(speech["two_people"])
        h.wait_llm = True
        await h.until(lambda: replied(h), max_seconds=8)

        first = llm_server.chat_requests[0]
        assert await first.wait_closed_async(2.0), "the dropped reply's LLM request is open"
        continued = h.log.went("user_speaking", "user went on: same turn")
        assert len(continued) == 1
        assert len(h.sink.events(ev.TurnStart, role="user")) == 1
        assert len(h.sink.events(ev.TurnEnd, role="user")) == 1
        assert h.sink.events(ev.Interrupted) == []  # nothing was heard, nothing interrupted
        turns = await h.stored()
        assert [(t.role, t.interrupted) for t in turns] == [("user", False), ("assistant", False)]
        assert turns[1].text == "A table for two, tonight. Done."
        # one user turn of both segments, answered as one message
        words = turns[0].text.split()
        assert "two" in words and words.index("two") > 0, turns[0].text
        assert len(llm_server.chat_requests) == 2
        messages = llm_server.chat_requests[1].body["messages"]
        assert [m["role"] for m in messages] == ["system", "user"]
        assert messages[1]["content"] == turns[0].text
        assert h.sink.violations == []
    finally:
        await h.close()


async def test_a_ready_reply_speaks_at_once_after_a_fast_decision(
    providers: Providers, llm_server: LLMServer, speech: dict[str, np.ndarray]
) -> None:
    """No fixed "speak after" hold: the LLM answers at once, the decision is fast
    (300 ms), and the first audio follows the decision, not a 700 ms gap."""
    llm_server.queue(Script(text("See you.")))
    h = await Harness.start(providers, policy=POLICY, turn_model=FixedTurnModel(0.95))
    try:
        await h.silence(0.3)
        await h.feed(speech["tomorrow"])
        await h.until(lambda: replied(h), max_seconds=8)
        [decision] = h.log.decisions
        assert decision.need_ms == POLICY.fast_ms
        [paused] = h.log.went("endpointing", "user went quiet")
        first_audio = h.sink.audio_chunks()[0].t
        quiet_s = first_audio - h.last_voiced_before(paused.t)
        assert POLICY.fast_ms / 1000 <= quiet_s <= POLICY.fast_ms / 1000 + 2 * FRAME_S, quiet_s
        [assistant] = [t for t in await h.stored() if t.role == "assistant"]
        assert assistant.meta is not None
        assert assistant.meta["latency"]["first_audio_hold_ms"] <= 2 * FRAME_S * 1000
    finally:
        await h.close()
