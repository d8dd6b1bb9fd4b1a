"""How a session ends, and what it keeps, on virtual time and fake providers: idle, maximum
duration and expiry (`engine/limits.py`) each end it with their reason; a server shutting
down suspends it; a burst of typed turns cannot pass `max_turns`; an unexpected failure
inside a reply is said and the conversation goes on. Nothing said is lost."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio

from parley.engine import events as ev
from parley.engine.endpointing import EndpointPolicy
from parley.engine.limits import SessionLimits
from parley.timeutil import utcnow
from tests.doubles.llm_server import LLMServer, Script, text
from tests.engine.fakes import FakeSTT, FakeVAD, FixedTurnModel, voice
from tests.engine.harness import Harness, Providers

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


async def ask(h: Harness, words: str) -> None:
    assert isinstance(h.providers.stt, FakeSTT)
    h.providers.stt.say(words)
    await h.silence(0.2)
    await h.feed(voice(0.8))


def ended(h: Harness) -> list[ev.Event]:
    return h.sink.events(ev.SessionEnded)


async def test_idle_counts_from_the_end_of_the_last_reply(
    fake: Providers, llm_server: LLMServer
) -> None:
    """The session's 5 s (under the server's 600 s): a reply longer than that is not
    idleness; silence after it is."""
    llm_server.queue(Script(text(LONG)))
    h = await Harness.start(
        fake, policy=POLICY, turn_model=FixedTurnModel(0.95), settings={"idle_timeout_s": 5}
    )
    try:
        await h.silence(3.0)
        await ask(h, "count for me please")  # spoken 3.2 s in: not idle yet
        await h.until(lambda: bool(h.sink.events(ev.TurnEnd, role="assistant")), max_seconds=30)
        reply_over = h.clock.now()
        assert ended(h) == []
        at = await h.until(lambda: bool(ended(h)), max_seconds=10)
        assert ended(h) == [ev.SessionEnded("idle")]
        assert 5.0 <= at - reply_over <= 5.0 + 0.1
        turns = await h.stored()
        assert [t.role for t in turns] == ["user", "assistant"] and turns[1].text == LONG
        assert h.log.went("ended", "idle")
    finally:
        await h.close()


async def test_a_session_cannot_outlast_the_server_limit(
    fake: Providers, llm_server: LLMServer
) -> None:
    """Its own 100 s is over the server's 3 s: 3 s it is, cutting the reply, whose heard
    words are kept."""
    llm_server.queue(Script(text(LONG)))
    h = await Harness.start(
        fake,
        policy=POLICY,
        turn_model=FixedTurnModel(0.95),
        settings={"max_duration_s": 100},
        limits=SessionLimits(idle_timeout_s=600, max_duration_s=3),
    )
    try:
        await ask(h, "count for me please")
        at = await h.until(lambda: bool(ended(h)), max_seconds=10)
        assert ended(h) == [ev.SessionEnded("max_duration")]
        assert 3.0 <= at <= 3.1
        turns = await h.stored()
        assert [t.role for t in turns] == ["user", "assistant"]
        assert turns[1].interrupted and 0 < len(turns[1].text) < len(LONG)
        record = await h.store.get(h.conv.id)
        assert record is not None and record.status == "ended"
    finally:
        await h.close()


async def test_expiry_ends_an_open_session(fake: Providers, llm_server: LLMServer) -> None:
    h = await Harness.start(
        fake,
        policy=POLICY,
        turn_model=FixedTurnModel(0.95),
        expires_at=utcnow() + timedelta(seconds=2),
    )
    try:
        at = await h.until(lambda: bool(ended(h)), max_seconds=5)
        assert ended(h) == [ev.SessionEnded("expired")]
        assert 1.5 <= at <= 2.1  # (wall time went on while the session was made)
        record = await h.store.get(h.conv.id)
        assert record is not None and record.status == "expired"
    finally:
        await h.close()


async def test_suspending_keeps_what_was_heard_and_the_session_live(
    fake: Providers, llm_server: LLMServer
) -> None:
    """The server shutting down (`SessionManager.close`): the reply in flight is cut and
    stored with what was heard; the session is not ended (no `session_ended`, still
    active), so the client reconnects to it on the next server."""
    llm_server.queue(Script(text(LONG)))
    h = await Harness.start(fake, policy=POLICY, turn_model=FixedTurnModel(0.95))
    try:
        await ask(h, "count for me please")
        await h.until(lambda: bool(h.sink.events(ev.TurnStart, role="assistant")), max_seconds=5)
        await h.silence(1.5)
        await h.conv.suspend("server shutting down")
        assert ended(h) == []
        turns = await h.stored()
        assert [t.role for t in turns] == ["user", "assistant"]
        assert turns[1].interrupted and 0 < len(turns[1].text) < len(LONG)
        record = await h.store.get(h.conv.id)
        assert record is not None and record.status in ("ready", "active")  # not ended
    finally:
        await h.close()


async def test_a_burst_of_typed_turns_cannot_pass_max_turns(
    fake: Providers, llm_server: LLMServer
) -> None:
    """Each message cuts the reply before it and starts another: without a check at each
    message, a burst would store (and send to the LLM) past `max_turns`."""
    llm_server.queue(*[Script(text(LONG)) for _ in range(10)])
    h = await Harness.start(fake, policy=POLICY, turn_model=FixedTurnModel(0.95), max_turns=4)
    try:
        for n in range(10):
            await h.conv.inject_user_message(f"Message {n}.")
            await h.silence(0.3)  # long enough for some reply audio to be heard and kept
        await h.until(lambda: bool(ended(h)), max_seconds=10)
        assert ended(h) == [ev.SessionEnded("max_turns")]
        turns = await h.stored()
        assert len(turns) == 4 and [t.role for t in turns] == ["user", "assistant"] * 2
        assert len(llm_server.chat_requests) <= 2
    finally:
        await h.close()


class SecondSentenceFails:
    """A TTS that breaks in an unexpected way (not a provider error) on its second sentence."""

    def __init__(self, inner: Any) -> None:
        self._inner, self.name = inner, inner.name

    def voices(self) -> Any:
        return self._inner.voices()

    async def synthesize(self, text: str, voice_id: str) -> AsyncIterator[Any]:
        if text.startswith("Five"):
            raise RuntimeError("a bug in a provider")
        async for chunk in self._inner.synthesize(text, voice_id):
            yield chunk


async def test_an_unexpected_failure_mid_reply_is_said_and_the_conversation_goes_on(
    fake: Providers, llm_server: LLMServer
) -> None:
    llm_server.queue(Script(text(LONG)), Script(text("Still here.")))
    broken = dataclasses.replace(fake, tts=SecondSentenceFails(fake.tts))
    h = await Harness.start(broken, policy=POLICY, turn_model=FixedTurnModel(0.95))
    try:
        await h.conv.inject_user_message("Count for me.")
        await h.until(lambda: bool(h.sink.events(ev.ErrorEvent)), max_seconds=20)
        [error] = h.sink.events(ev.ErrorEvent)
        assert error.code == "internal_error" and "goes on" in error.message
        await h.until(lambda: h.conv.state.value == "listening", max_seconds=10)
        await h.conv.inject_user_message("Are you there?")
        await h.until(lambda: len(h.sink.events(ev.TurnEnd, role="assistant")) == 2, 20)
        turns = await h.stored()
        assert [(t.role, t.text) for t in turns] == [
            ("user", "Count for me."),
            ("assistant", "One two three four."),
            ("user", "Are you there?"),
            ("assistant", "Still here."),
        ]
    finally:
        await h.close()


async def test_a_turn_that_never_goes_quiet_is_capped_and_answered(
    fake: Providers, llm_server: LLMServer
) -> None:
    """A voice (or a noise) that never stops (the session's `max_utterance_s`: 5 s): the
    turn ends at 5 s and is answered; the sound going on is not a new turn, nor an
    interruption of the reply, until it has stopped once. Before the cap a turn stayed open
    for as long as the sound lasted, its audio buffered by the recogniser."""
    llm_server.queue(Script(text("I heard you.")))
    h = await Harness.start(fake, policy=POLICY, settings={"max_utterance_s": 5})
    try:
        assert isinstance(h.providers.stt, FakeSTT)
        h.providers.stt.say("a story that goes on and on")
        await h.silence(0.2)
        await h.feed(voice(12.0))  # 12 s without a pause
        user_ends = h.sink.events(ev.TurnEnd, role="user")
        assert len(user_ends) == 1 and user_ends[0].turn_id is not None
        [capped] = h.log.went("endpointing", "the turn reached its maximum length")
        assert 4.95 <= capped.t - 0.2 <= 5.0 + 0.1, capped  # (to a frame)
        assert h.sink.events(ev.TurnStart, role="assistant"), "answered while the sound goes on"
        await h.until(lambda: bool(h.sink.events(ev.TurnEnd, role="assistant")), max_seconds=10)
        turns = await h.stored()
        assert [(t.role, t.text, t.interrupted) for t in turns] == [
            ("user", "a story that goes on and on", False),
            ("assistant", "I heard you.", False),
        ]
        assert len(h.sink.events(ev.TurnStart, role="user")) == 1
    finally:
        await h.close()


async def test_a_user_who_goes_on_after_the_cap_takes_the_floor_again(
    fake: Providers, llm_server: LLMServer
) -> None:
    """The cap is a limit, not a gag: once the sound has stopped, speech starts a turn
    again (here, over the capped turn's reply, which it interrupts)."""
    llm_server.queue(Script(text(LONG)), Script(text("Sure.")))
    h = await Harness.start(
        fake, policy=POLICY, turn_model=FixedTurnModel(0.95), settings={"max_utterance_s": 5}
    )
    try:
        assert isinstance(h.providers.stt, FakeSTT)
        h.providers.stt.say("a long story", "wait a moment")
        await h.silence(0.2)
        await h.feed(voice(6.0))
        await h.until(lambda: bool(h.sink.events(ev.TurnStart, role="assistant")), max_seconds=5)
        await h.silence(0.5)
        await h.feed(voice(2.0))  # "wait a moment": over the reply
        await h.until(lambda: len(h.sink.events(ev.TurnEnd, role="assistant")) == 2, 20)
        turns = await h.stored()
        assert [t.role for t in turns] == ["user", "assistant", "user", "assistant"]
        assert turns[1].interrupted and turns[2].text == "wait a moment"
    finally:
        await h.close()
