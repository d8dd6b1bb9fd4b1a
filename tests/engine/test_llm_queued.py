"""A reply whose LLM reports it queued (`Delayed`): the filler, on virtual time.

The embedded LLM yields `Delayed` when a reply has waited `PARLEY_LLM_QUEUE_FILLER_S` in
its queue behind other sessions (tests/llm has that with the real model). Here the LLM is
the OpenAI client against the HTTP double, behind `Queued`, which stands for the queue:
it reports the wait, holds the reply until the test releases it, then streams the
double's answer (or fails as a full queue does). What is checked is the engine's part:
the reply takes the floor, says "One moment." once, then the answer; the filler is heard
but not stored, and never reaches the next prompt.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncGenerator

import numpy as np
import pytest

from parley.engine import events as ev
from parley.engine.endpointing import EndpointPolicy
from parley.engine.state import State
from parley.providers.llm.base import (
    LLM_BUSY,
    ChatMessage,
    Delayed,
    LLMError,
    LLMEvent,
    LLMProvider,
    ToolSpec,
)
from tests.doubles.llm_server import LLMServer, Script, text
from tests.engine.conftest import FEMALE, synthesize
from tests.engine.harness import Harness, Providers

pytestmark = pytest.mark.asyncio(loop_scope="module")

ANSWER = "Trains run on rails."
TYPED = "Tell me about trains."


class Queued:
    """Stands for the embedded LLM's queue in front of `inner`: the next reply is
    reported `Delayed` and held until `release` is set; `fail` ends it as `llm_busy`."""

    def __init__(self, inner: LLMProvider) -> None:
        self.inner = inner
        self.hold_next = True
        self.fail = False
        self.release = asyncio.Event()

    async def stream(
        self, messages: list[ChatMessage], tools: list[ToolSpec] | None = None
    ) -> AsyncGenerator[LLMEvent, None]:
        if self.hold_next:
            self.hold_next = False
            yield Delayed(1.5, 1)
            await self.release.wait()
            if self.fail:
                raise LLMError(LLM_BUSY, "The embedded LLM is busy: this reply waited 10 s")
        async with contextlib.aclosing(self.inner.stream(messages, tools)) as events:
            async for event in events:
                yield event


async def start(
    providers: Providers, policy: EndpointPolicy | None = None
) -> tuple[Harness, Queued]:
    queued = Queued(providers.llm)
    h = await Harness.start(dataclasses.replace(providers, llm=queued), policy=policy)
    h.wait_llm = False  # virtual time runs while the reply waits in the queue
    return h, queued


def assistant_texts(h: Harness) -> list[str]:
    return [e.text for e in h.sink.events(ev.TranscriptEvent, role="assistant")]


async def test_a_queued_reply_says_one_moment_then_the_answer_and_stores_the_answer(
    providers: Providers, llm_server: LLMServer
) -> None:
    llm_server.queue(Script(text(ANSWER)), Script(text("Buses run on roads.")))
    h, queued = await start(providers)
    try:
        await h.conv.inject_user_message(TYPED)
        await h.until(lambda: bool(h.sink.audio_chunks()), max_seconds=3)
        assert h.conv.state is State.SPEAKING, "the filler is the reply's first audio"
        assert len(h.sink.events(ev.TurnStart, role="assistant")) == 1
        assert assistant_texts(h) == ["One moment."]
        await h.silence(2.0)  # still queued: the filler is said once, then silence
        assert assistant_texts(h) == ["One moment."]
        assert h.conv.state is State.SPEAKING  # the turn is open while the model waits
        queued.release.set()
        await h.until(lambda: bool(h.sink.events(ev.TurnEnd, role="assistant")), 10)

        assert len(h.sink.events(ev.TurnStart, role="assistant")) == 1
        interim = [t for t in h.sink.events(ev.TranscriptEvent, role="assistant")]
        assert [t.text for t in interim if not t.is_final] == ["One moment.", ANSWER]
        assert [t.text for t in interim if t.is_final] == [ANSWER]
        turns = await h.stored()
        assert [(t.role, t.text) for t in turns] == [("user", TYPED), ("assistant", ANSWER)]
        assert not h.sink.events(ev.ErrorEvent)

        # the next prompt has the answer, not the filler, as the assistant's last words
        await h.conv.inject_user_message("And buses?")
        await h.until(lambda: len(h.sink.events(ev.TurnEnd, role="assistant")) == 2, 10)
        sent = llm_server.chat_requests[-1].body["messages"]
        assert [m["content"] for m in sent if m["role"] == "assistant"] == [ANSWER]
        assert assistant_texts(h)[-2:] == ["Buses run on roads.", "Buses run on roads."]
    finally:
        await h.close()


async def test_a_reply_that_waits_past_the_queue_limit_says_one_moment_then_llm_busy(
    providers: Providers,
) -> None:
    h, queued = await start(providers)
    try:
        await h.conv.inject_user_message(TYPED)
        await h.until(lambda: bool(h.sink.audio_chunks()), max_seconds=3)
        queued.fail = True
        queued.release.set()
        await h.until(lambda: bool(h.sink.events(ev.TurnEnd, role="assistant")), 10)

        assert [e.code for e in h.sink.events(ev.ErrorEvent)] == ["llm_busy"]
        # the client was told the turn started: it ends, holding what was said
        turns = await h.stored()
        assert [(t.role, t.text) for t in turns] == [
            ("user", TYPED),
            ("assistant", "One moment."),
        ]
        assert h.conv.state is State.LISTENING
    finally:
        await h.close()


@pytest.fixture(scope="module")
def question() -> np.ndarray:
    return synthesize({"q": ("Where is the nearest hospital?", FEMALE)})["q"]


async def test_a_spoken_turn_is_stored_before_the_filler_and_a_barge_in_cuts_it(
    providers: Providers, llm_server: LLMServer, question: np.ndarray
) -> None:
    h, queued = await start(providers, EndpointPolicy(fast_ms=300, normal_ms=1200, slow_ms=3000))
    try:
        await h.silence(0.3)
        await h.feed(question)
        await h.until(lambda: bool(h.sink.audio_chunks()), max_seconds=6)
        # the gate was passed: the user's turn was stored and announced before the filler
        first_audio = h.sink.audio_chunks()[0].t
        user_end = h.sink.first(ev.TurnEnd, role="user")
        assert user_end is not None and user_end.t <= first_audio
        assert isinstance(user_end.event, ev.TurnEnd) and user_end.event.turn_id == "turn_001"
        assert assistant_texts(h) == ["One moment."]

        await h.feed(question)  # the user talks over the filler: it is cut, like any reply
        await h.until(lambda: bool(h.sink.events(ev.Interrupted)), max_seconds=3)
        assert h.conv.state is State.USER_SPEAKING
        queued.release.set()  # (the cancelled reply's LLM call is gone)
        await h.silence(3.0)
        turns = await h.stored()
        assert turns[1].role == "assistant" and turns[1].interrupted
        assert set(turns[1].text.split()) <= {"One", "moment."}
    finally:
        await h.close()
