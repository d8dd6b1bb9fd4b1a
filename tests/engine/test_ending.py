"""Ending a conversation while the user is speaking (a caller hangs up mid-sentence), on
virtual time: the turn in flight is finished by the recogniser and stored, not answered
(`engine/ending.py`)."""

from __future__ import annotations

import numpy as np
import pytest

from parley.engine import events as ev
from parley.engine.state import State
from tests.doubles.llm_server import LLMServer, Script, text
from tests.engine.conftest import FEMALE, MALE, synthesize
from tests.engine.harness import FRAME_S, Harness, Providers, turn_summary
from tests.engine.test_replies import LONG

pytestmark = pytest.mark.asyncio(loop_scope="module")

LINES = {
    "tomorrow": ("See you tomorrow", MALE),
    "stop": ("Wait, stop, I have another question about my order", FEMALE),
}


@pytest.fixture(scope="module")
def speech() -> dict[str, np.ndarray]:
    return synthesize(LINES)


def announced_before_end(h: Harness) -> list[str]:
    [ended] = [i for i, r in enumerate(h.sink.log) if isinstance(r.event, ev.SessionEnded)]
    return [r.event.role for r in h.sink.log[:ended] if isinstance(r.event, ev.TurnEnd)]


async def test_ending_while_the_user_speaks_stores_what_was_heard(
    providers: Providers, llm_server: LLMServer, speech: dict[str, np.ndarray]
) -> None:
    h = await Harness.start(providers)
    try:
        await h.silence(0.3)
        await h.feed(speech["tomorrow"])  # the line goes dead as the last word ends
        assert h.conv.state in (State.USER_SPEAKING, State.ENDPOINTING)
        await h.conv.end("caller_hung_up")

        turns = await h.stored()
        assert [(t.role, t.text) for t in turns] == [("user", "see you tomorrow")]
        spoken_ms = speech["tomorrow"].size / 16
        assert 0.5 * spoken_ms < turns[0].duration_ms <= spoken_ms + 100
        assert announced_before_end(h) == ["user"]
        assert llm_server.chat_requests == []  # stored, not answered
        assert h.sink.violations == []
    finally:
        await h.close()


async def test_ending_while_the_user_talks_over_a_reply_keeps_both_turns(
    providers: Providers, llm_server: LLMServer, speech: dict[str, np.ndarray]
) -> None:
    """Barge-in, then the line drops mid-sentence: the cut reply (what was heard), then
    the words the user got out, in that order; a typed turn keeps its `meta`."""
    llm_server.queue(Script(text(LONG)))
    h = await Harness.start(providers)
    try:
        await h.conv.inject_user_message("[keypad: 1 #]", meta={"dtmf": "1#"})
        await h.until(lambda: h.conv.state is State.SPEAKING, max_seconds=6)
        await h.silence(1.5)
        words = speech["stop"]
        await h.feed(words[: words.size * 2 // 3])  # hung up two thirds of the way in
        assert h.conv.state in (State.PAUSED, State.USER_SPEAKING, State.ENDPOINTING)
        await h.conv.end("caller_hung_up")

        turns = await h.stored()
        assert turn_summary(turns) == [("user", False), ("assistant", True), ("user", False)], [
            (t.role, t.text) for t in turns
        ]
        assert turns[0].meta == {"dtmf": "1#"}
        assert LONG.startswith(turns[1].text) and 0 < len(turns[1].text) < len(LONG) // 2
        assert turns[2].text.strip()
        assert 0 < turns[2].duration_ms <= words.size * 2 // 3 / 16 + FRAME_S * 1000
        assert announced_before_end(h) == ["user", "assistant", "user"]
        assert len(llm_server.chat_requests) == 1
        assert h.sink.violations == []
    finally:
        await h.close()
