"""`Conversation.cancel_reply` on virtual time: a client's explicit cancel (OpenAI
Realtime's `response.cancel`) cuts the reply like a barge-in and keeps what was heard."""

from __future__ import annotations

import pytest

from parley.engine import events as ev
from parley.engine.state import State
from tests.doubles.llm_server import LLMServer, Script, text
from tests.engine.harness import Harness, Providers, turn_summary

pytestmark = pytest.mark.asyncio(loop_scope="module")

LONG = (
    "The weather today is sunny with a light breeze from the west. "
    "In the afternoon, clouds will gather over the hills and the wind will pick up. "
    "By evening, expect light rain and cooler air across the whole region."
)


async def test_cancel_cuts_the_reply_and_keeps_what_was_heard(
    providers: Providers, llm_server: LLMServer
) -> None:
    llm_server.queue(Script(text(LONG)))
    h = await Harness.start(providers)
    try:
        assert h.conv.cancel_reply() is None  # nothing to cancel
        await h.conv.inject_user_message("What is the weather?")
        await h.until(lambda: h.conv.state is State.SPEAKING, max_seconds=6)
        await h.silence(1.5)
        assert h.conv.cancel_reply() is True
        assert h.conv.state is State.LISTENING
        await h.until(lambda: bool(h.sink.events(ev.TurnEnd, role="assistant")), max_seconds=5)
        [end] = h.sink.events(ev.TurnEnd, role="assistant")
        assert end.interrupted and 1000 < end.duration_ms < 2500
        assert len(h.sink.events(ev.Interrupted)) == 1
        turns = await h.stored()
        assert turn_summary(turns) == [("user", False), ("assistant", True)]
        assert LONG.startswith(turns[1].text) and len(turns[1].text) < len(LONG)
    finally:
        await h.close()
