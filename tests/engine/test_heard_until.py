"""A played position reported by the client (`Conversation.heard_until`), on virtual time.

Telephony transports learn what the caller heard from the far end (Twilio echoes a
`mark` once the audio before it has played): a cut reply keeps the words heard by the
latest report, not the pacer's estimate, which runs ahead of a jittery phone line.
"""

from __future__ import annotations

import pytest

from parley.engine import events as ev
from parley.engine.state import State
from tests.doubles.llm_server import LLMServer, Script, text
from tests.engine.harness import Harness, Providers, turn_summary
from tests.engine.test_replies import LONG, assert_heard, reply_log, words_heard

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_a_cut_keeps_what_the_client_reported_heard(
    providers: Providers, llm_server: LLMServer
) -> None:
    llm_server.queue(Script(text(LONG)), Script(text("Trains run on rails.")))
    h = await Harness.start(providers)
    try:
        await h.conv.inject_user_message("Tell me about the weather.")
        await h.until(lambda: bool(h.sink.audio_chunks()), max_seconds=6)
        first_audio = h.sink.audio_chunks()[0].t
        await h.silence(3.0)
        assert h.conv.state is State.SPEAKING
        pacer_ms = (h.clock.now() - first_audio) * 1000
        # the far end has confirmed less than the pacer thinks was played
        h.conv.heard_until(1800.0)
        h.conv.heard_until(2100.0)  # the latest report counts
        await h.conv.inject_user_message("Tell me about trains.")
        await h.until(lambda: len(h.sink.events(ev.TurnEnd, role="assistant")) == 2, max_seconds=10)
        [interrupted] = h.sink.events(ev.Interrupted)
        assert interrupted.played_ms == 2100
        assert pacer_ms - interrupted.played_ms > 800  # the report, not the estimate
        turns = await h.stored()
        assert turn_summary(turns) == [
            ("user", False),
            ("assistant", True),
            ("user", False),
            ("assistant", False),
        ]
        assert turns[1].duration_ms == 2100
        assert_heard(turns[1].text, words_heard(providers, reply_log(h, 0), 2100.0))
    finally:
        await h.close()


async def test_a_report_for_an_earlier_reply_does_not_shape_the_next(
    providers: Providers, llm_server: LLMServer
) -> None:
    llm_server.queue(Script(text("Fine, thanks.")), Script(text(LONG)), Script(text("Sure.")))
    h = await Harness.start(providers)
    try:
        await h.conv.inject_user_message("How are you?")
        await h.until(lambda: len(h.sink.events(ev.TurnEnd, role="assistant")) == 1)
        h.conv.heard_until(500.0)  # no reply in progress: ignored
        await h.conv.inject_user_message("Tell me about the weather.")
        await h.until(lambda: len(h.sink.audio_chunks()) > 0 and h.conv.state is State.SPEAKING)
        await h.silence(2.0)
        injected_at = h.clock.now()
        await h.conv.inject_user_message("Stop.")
        await h.until(lambda: len(h.sink.events(ev.TurnEnd, role="assistant")) == 3)
        [interrupted] = h.sink.events(ev.Interrupted)
        # no report for this reply: the pacer's estimate of what played
        first_audio = next(r for r in reply_log(h, 1) if r.event is None and r.samples)
        assert abs(interrupted.played_ms - (injected_at - first_audio.t) * 1000) <= 40
        assert interrupted.played_ms > 1500
    finally:
        await h.close()
