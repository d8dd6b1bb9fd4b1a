"""Replies on virtual time: barge-in, pacing, durability, the turn limit, typed input
(DESIGN principles 1-4, 8, 9)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from parley.engine import events as ev
from parley.engine.endpointing import EndpointPolicy
from parley.engine.state import State
from parley.providers.tts.espeak import EspeakTTS
from tests.doubles.llm_server import LLMServer, Script, stall, text
from tests.engine.conftest import FEMALE, MALE, synthesize
from tests.engine.harness import FRAME_S, VOICE, Harness, Providers, Received, turn_summary

pytestmark = pytest.mark.asyncio(loop_scope="module")

POLICY = EndpointPolicy(fast_ms=300, normal_ms=1200, slow_ms=3000)
LINES = {
    "tomorrow": ("See you tomorrow", MALE),  # decided on the fast wait (see test_end_of_turn)
    "hospital": ("Where is the nearest hospital?", FEMALE),
}
LONG = (
    "The weather today is sunny with a light breeze from the west. "
    "In the afternoon, clouds will gather over the hills and the wind will pick up. "
    "By evening, expect light rain and cooler air across the whole region. "
    "Tomorrow should be bright and warm again."
)
SHORT = "Sure, I can help with that. Let me look it up right away."
TYPED = "Tell me about trains."


@pytest.fixture(scope="module")
def speech() -> dict[str, np.ndarray]:
    return synthesize(LINES)


def assistant_ends(h: Harness) -> int:
    return len(h.sink.events(ev.TurnEnd, role="assistant"))


def has_audio(h: Harness) -> bool:
    return bool(h.sink.audio_chunks())


async def ask(h: Harness, audio: np.ndarray) -> float:
    """Speak a question; returns the clock time of the first reply audio."""
    await h.silence(0.3)
    await h.feed(audio)
    await h.until(lambda: has_audio(h), max_seconds=6)
    return h.sink.audio_chunks()[0].t


def reply_log(h: Harness, n: int) -> list[Received]:
    """What the sink received up to the end of the n-th assistant turn (0-based), from the
    end of the one before: that reply's audio and sentence announcements, among others."""
    ends = [
        i
        for i, r in enumerate(h.sink.log)
        if isinstance(r.event, ev.TurnEnd) and r.event.role == "assistant"
    ]
    begin = ends[n - 1] + 1 if n > 0 else 0
    return h.sink.log[begin : ends[n] + 1]


def sentence_ms(providers: Providers, sentence: str) -> float:
    """How long the reply's audio of `sentence` lasts (espeak-ng is deterministic)."""
    tts = providers.tts
    assert isinstance(tts, EspeakTTS)
    return tts.synthesize_blocking(sentence, VOICE).size * 1000 / tts.SAMPLE_RATE


def words_heard(providers: Providers, log: list[Received], played_ms: float) -> list[str]:
    """The reply's words the listener heard by `played_ms` into its audio, from what the
    transport saw: each sentence is announced (a non-final transcript) just before its
    audio goes out; of the sentence playing at `played_ms`, the share of its words
    proportional to the share of its audio played."""
    spans: list[tuple[str, float]] = []  # (sentence, start ms in the reply's audio)
    sent_ms = 0.0
    previous = ""
    for r in log:
        if r.event is None and r.samples:
            sent_ms += r.samples * 1000 / r.sample_rate
        elif isinstance(r.event, ev.TranscriptEvent) and r.event.role == "assistant":
            if not r.event.is_final:
                spans.append((r.event.text[len(previous) :].strip(), sent_ms))
                previous = r.event.text
    for (sentence, start), (_, following) in zip(spans, spans[1:], strict=False):
        # the model of the reply's audio holds: sentence after sentence, no gaps
        assert abs(start + sentence_ms(providers, sentence) - following) < 20
    words: list[str] = []
    for sentence, start in spans:
        end = start + sentence_ms(providers, sentence)
        if played_ms >= end:
            words += sentence.split()
            continue
        if played_ms > start:
            share = (played_ms - start) / (end - start)
            words += sentence.split()[: int(len(sentence.split()) * share)]
        break
    return words


def assert_heard(stored: str, expected: list[str]) -> None:
    """`stored` is the words heard: a prefix of the reply, give or take the last word."""
    words = stored.split()
    assert LONG.startswith(stored), stored
    assert abs(len(words) - len(expected)) <= 1, (stored, " ".join(expected))


async def test_barge_in_stops_the_reply_and_keeps_what_was_heard(
    providers: Providers, llm_server: LLMServer, speech: dict[str, np.ndarray]
) -> None:
    llm_server.queue(Script(text(LONG)), Script(text("It is on Main Street.")))
    h = await Harness.start(providers, policy=POLICY)
    try:
        first_audio = await ask(h, speech["tomorrow"])
        # well into the second sentence
        await h.until(lambda: len(h.sink.events(ev.TranscriptEvent, role="assistant")) == 2)
        await h.silence(1.0)
        await h.feed(speech["hospital"])
        await h.until(lambda: assistant_ends(h) == 2, max_seconds=10)

        # the reply paused at the first voiced frame, then the speech (a question, not
        # a backchannel) took the floor
        [barge_in] = h.log.went("paused", "voice over the reply")
        [taken] = [t for t in h.log.transitions if t.old == "paused"]
        assert taken.new in ("user_speaking", "endpointing") and taken.t > barge_in.t
        [interrupted] = h.sink.events(ev.Interrupted)
        # played = what the listener heard: the time since the reply's first audio, to
        # the pause
        heard_ms = (barge_in.t - first_audio) * 1000
        assert abs(interrupted.played_ms - heard_ms) <= 40, (interrupted, heard_ms)

        turns = await h.stored()
        assert turn_summary(turns) == [
            ("user", False),
            ("assistant", True),
            ("user", False),
            ("assistant", False),
        ]
        assistant = turns[1]
        assert assistant.turn_id == interrupted.turn_id
        assert assistant.duration_ms == interrupted.played_ms
        # history is what the user heard: a prefix of the reply, cut where it was cut
        assert LONG.startswith(assistant.text) and assistant.text != LONG
        first_reply = reply_log(h, 0)
        assert_heard(assistant.text, words_heard(providers, first_reply, interrupted.played_ms))

        # not one more sample of the reply once the user took the floor
        cut = next(i for i, r in enumerate(first_reply) if r.event is interrupted)
        assert [r for r in first_reply[cut:] if r.samples] == []
        assert [r for r in first_reply if r.samples and r.t > barge_in.t] == []

        # the interrupting speech is the next user turn, answered with the history heard
        assert len(h.sink.events(ev.TurnStart, role="user")) == 2
        assert turns[2].text
        messages = llm_server.chat_requests[1].body["messages"]
        assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
        assert messages[2]["content"] == f"{assistant.text} [interrupted by the user]"
        assert messages[3]["content"] == turns[2].text
        assert h.sink.violations == []
        assert h.sink.max_ahead_ms <= h.runtime.lead_ms + 1e-6
        assert h.log.errors == []  # no illegal transition
    finally:
        await h.close()


async def test_reply_audio_is_paced_lead_ms_ahead_of_playback(
    providers: Providers, llm_server: LLMServer, speech: dict[str, np.ndarray]
) -> None:
    lead_ms = 160
    llm_server.queue(Script(text(SHORT)))
    h = await Harness.start(providers, policy=POLICY, lead_ms=lead_ms)
    try:
        first_audio = await ask(h, speech["tomorrow"])
        await h.until(lambda: assistant_ends(h) == 1, max_seconds=10)

        chunks = h.sink.audio_chunks()
        total_s = sum(c.samples / c.sample_rate for c in chunks)
        assert total_s > 2.0
        # never more than lead_ms ahead of the listener; and the lead is used
        assert h.sink.max_ahead_ms <= lead_ms + 1e-6
        assert h.sink.max_ahead_ms >= lead_ms - 20
        # so the audio goes out over the reply's own duration, not at once
        assert chunks[-1].t >= first_audio + total_s - lead_ms / 1000 - FRAME_S
        sent_at_start = sum(c.samples * 1000 / c.sample_rate for c in chunks if c.t == first_audio)
        assert sent_at_start <= lead_ms
        # and the turn is stored (and announced) once it was all heard
        [end] = [
            r for r in h.sink.log if isinstance(r.event, ev.TurnEnd) and r.event.role == "assistant"
        ]
        assert end.t >= first_audio + total_s - 1e-6
        assert [t.text for t in await h.stored()][1] == SHORT
    finally:
        await h.close()


async def test_turn_end_is_sent_only_once_the_turn_is_stored(
    providers: Providers, llm_server: LLMServer, speech: dict[str, np.ndarray]
) -> None:
    """Spoken turn, reply, typed turn, reply: the sink looks in the store as each
    `turn_end` (and final transcript) arrives."""
    llm_server.queue(Script(text(SHORT)), Script(text("Trains run on rails.")))
    h = await Harness.start(providers, policy=POLICY)
    try:
        await ask(h, speech["tomorrow"])
        await h.until(lambda: assistant_ends(h) == 1, max_seconds=10)
        await h.conv.inject_user_message(TYPED)
        await h.until(lambda: assistant_ends(h) == 2, max_seconds=10)

        assert h.sink.violations == []
        ends = h.sink.events(ev.TurnEnd)
        assert [(e.role, e.turn_id) for e in ends] == [
            ("user", "turn_001"),
            ("assistant", "turn_002"),
            ("user", "turn_003"),
            ("assistant", "turn_004"),
        ]
        # each turn_end saw its own turn (and all before it) in the store
        for i, e in enumerate(ends):
            assert len(h.sink.stored_at_turn_end[e.turn_id]) == i + 1
        assert [t.text for t in await h.stored()][2:] == [TYPED, "Trains run on rails."]
    finally:
        await h.close()


async def test_the_session_ends_after_the_reply_that_reaches_max_turns(
    providers: Providers, llm_server: LLMServer, speech: dict[str, np.ndarray]
) -> None:
    llm_server.queue(Script(text(SHORT)))
    h = await Harness.start(providers, policy=POLICY, max_turns=2)
    try:
        first_audio = await ask(h, speech["tomorrow"])
        await h.until(lambda: bool(h.sink.events(ev.SessionEnded)), max_seconds=10)

        assert h.sink.events(ev.SessionEnded) == [ev.SessionEnded("max_turns")]
        assert h.conv.state is State.ENDED
        record = await h.store.get(h.conv.id)
        assert record is not None and record.status == "ended"
        turns = await h.stored()
        assert turn_summary(turns) == [("user", False), ("assistant", False)]
        assert turns[1].text == SHORT  # the whole reply, not cut by the end
        # the end comes after the reply was heard to the last sample and stored
        kinds = [type(r.event).__name__ for r in h.sink.log if r.event is not None]
        assert kinds[-2:] == ["TurnEnd", "SessionEnded"]
        total_s = sum(c.samples / c.sample_rate for c in h.sink.audio_chunks())
        ended = h.sink.first(ev.SessionEnded)
        assert ended is not None and ended.t >= first_audio + total_s - 1e-6
        # and nothing more is heard
        await h.feed(speech["hospital"])
        await h.silence(1.0)
        assert len(h.sink.events(ev.TurnStart, role="user")) == 1
        assert len(llm_server.chat_requests) == 1
    finally:
        await h.close()


async def test_typed_input_is_refused_while_the_user_speaks(
    providers: Providers, llm_server: LLMServer, speech: dict[str, np.ndarray]
) -> None:
    llm_server.queue(Script(text(SHORT)))
    h = await Harness.start(providers, policy=POLICY)
    try:
        await h.silence(0.3)
        audio = speech["hospital"]
        half = audio.size // 2 // 512 * 512
        await h.feed(audio[:half])
        assert h.conv.state is State.USER_SPEAKING
        await h.conv.inject_user_message(TYPED)
        await h.feed(audio[half:])
        await h.until(lambda: h.conv.state is State.ENDPOINTING, max_seconds=1)
        await h.conv.inject_user_message(TYPED)
        await h.until(lambda: assistant_ends(h) == 1, max_seconds=10)

        assert [e.code for e in h.sink.events(ev.ErrorEvent)] == ["injection_refused"] * 2
        turns = await h.stored()
        assert turn_summary(turns) == [("user", False), ("assistant", False)]
        assert TYPED not in [t.text for t in turns]
        assert len(h.sink.events(ev.TurnStart, role="user")) == 1
        assert len(llm_server.chat_requests) == 1
        assert llm_server.chat_requests[0].body["messages"][-1]["content"] == turns[0].text
    finally:
        await h.close()


async def test_typed_input_over_a_reply_interrupts_it_and_is_answered(
    providers: Providers, llm_server: LLMServer, speech: dict[str, np.ndarray]
) -> None:
    llm_server.queue(Script(text(LONG)), Script(text("Trains run on rails.")))
    h = await Harness.start(providers, policy=POLICY)
    try:
        first_audio = await ask(h, speech["tomorrow"])
        await h.silence(1.5)
        assert h.conv.state is State.SPEAKING
        injected_at = h.clock.now()
        await h.conv.inject_user_message(TYPED)
        await h.until(lambda: assistant_ends(h) == 2, max_seconds=10)

        [interrupted] = h.sink.events(ev.Interrupted)
        assert abs(interrupted.played_ms - (injected_at - first_audio) * 1000) <= 40
        first_reply = reply_log(h, 0)
        assert [r for r in first_reply if r.samples and r.t > injected_at] == []

        turns = await h.stored()
        # history keeps the order things happened: the reply was cut, then the typed turn
        assert turn_summary(turns) == [
            ("user", False),
            ("assistant", True),
            ("user", False),
            ("assistant", False),
        ], [(t.role, t.text) for t in turns]
        assert turns[1].turn_id == interrupted.turn_id
        assert LONG.startswith(turns[1].text) and turns[1].text != LONG
        assert_heard(turns[1].text, words_heard(providers, first_reply, interrupted.played_ms))
        assert turns[2].text == TYPED
        assert turns[3].text == "Trains run on rails."
        assert len(h.sink.events(ev.TurnStart, role="user")) == 2
        messages = llm_server.chat_requests[1].body["messages"]
        assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
        assert messages[2]["content"] == f"{turns[1].text} [interrupted by the user]"
        assert messages[3]["content"] == TYPED
        assert h.sink.violations == []
    finally:
        await h.close()


async def test_typed_input_over_a_reply_still_streaming_keeps_the_order_of_history(
    providers: Providers, llm_server: LLMServer, speech: dict[str, np.ndarray]
) -> None:
    """The same, with the LLM still streaming when the typed message comes (it sent one
    sentence, then nothing): the reply is cut, its LLM request closed, and history still
    reads question, cut reply, typed message, answer."""
    first_sentence = LONG.split(". ")[0] + ". "
    llm_server.queue(Script(text(first_sentence), stall()), Script(text("Trains run on rails.")))
    h = await Harness.start(providers, policy=POLICY)
    h.wait_llm = False  # the first LLM stream never ends
    try:
        await ask(h, speech["tomorrow"])
        await h.silence(1.0)
        assert h.conv.state is State.SPEAKING
        await h.conv.inject_user_message(TYPED)
        h.wait_llm = True
        await h.until(lambda: assistant_ends(h) == 2, max_seconds=10)

        assert await llm_server.chat_requests[0].wait_closed_async(2.0)
        [interrupted] = h.sink.events(ev.Interrupted)
        turns = await h.stored()
        assert turn_summary(turns) == [
            ("user", False),
            ("assistant", True),
            ("user", False),
            ("assistant", False),
        ], [(t.role, t.text) for t in turns]
        assert turns[1].turn_id == interrupted.turn_id
        messages = llm_server.chat_requests[1].body["messages"]
        assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
        assert messages[3]["content"] == TYPED
    finally:
        await h.close()


async def test_ending_right_after_typed_input_over_a_reply_loses_no_turn(
    providers: Providers, llm_server: LLMServer, speech: dict[str, np.ndarray]
) -> None:
    """DELETE (or an expiry) lands just as a typed message cut a reply: the cut reply and
    the typed turn are both being stored when the session ends, and both must be kept,
    before `session_ended` is announced."""
    llm_server.queue(Script(text(LONG)))
    h = await Harness.start(providers, policy=POLICY)
    try:
        await ask(h, speech["tomorrow"])
        await h.silence(1.5)
        assert h.conv.state is State.SPEAKING
        await h.conv.inject_user_message(TYPED)
        await h.conv.end("deleted")  # no settling in between

        turns = await h.stored()
        assert turn_summary(turns) == [("user", False), ("assistant", True), ("user", False)], [
            (t.role, t.text) for t in turns
        ]
        assert turns[2].text == TYPED
        [ended] = [i for i, r in enumerate(h.sink.log) if isinstance(r.event, ev.SessionEnded)]
        announced = [r.event for r in h.sink.log[:ended] if isinstance(r.event, ev.TurnEnd)]
        assert [e.role for e in announced] == ["user", "assistant", "user"]
        assert h.sink.violations == []
    finally:
        await h.close()


async def test_waiting_for_a_reply_to_finish_can_itself_be_cancelled(
    providers: Providers, llm_server: LLMServer
) -> None:
    """The session manager's reaper waits for the reply in flight (`idle()`); a client
    that reconnects cancels the reaper, which must then stop waiting, not go on to close
    the conversation the client has just reattached to."""
    llm_server.queue(Script(stall()))
    h = await Harness.start(providers, policy=POLICY)
    h.wait_llm = False
    try:
        await h.conv.inject_user_message(TYPED)
        await h.sync()
        assert h.conv.busy
        waiter = asyncio.create_task(h.conv.idle())
        await h.clock.settle()
        waiter.cancel()
        done, _ = await asyncio.wait({waiter}, timeout=2)
        assert done and waiter.cancelled()
        assert h.conv.busy  # the reply itself goes on
    finally:
        await h.close()


async def test_ending_while_the_reply_is_prepared_keeps_the_user_turn(
    providers: Providers, llm_server: LLMServer, speech: dict[str, np.ndarray]
) -> None:
    """The user turn is stored only as the reply is about to be spoken (speculative
    replies); a session that ends before that must still keep what the user said."""
    llm_server.queue(Script(stall()))
    h = await Harness.start(providers, policy=POLICY)
    h.wait_llm = False
    try:
        await h.silence(0.3)
        await h.feed(speech["tomorrow"])
        await h.until(lambda: h.conv.state is State.PREPARING, max_seconds=4)
        await h.sync()
        assert await h.stored() == []
        await h.conv.end("deleted")

        turns = await h.stored()
        assert [(t.role, t.text) for t in turns] == [("user", "see you tomorrow")]
        [ended] = [i for i, r in enumerate(h.sink.log) if isinstance(r.event, ev.SessionEnded)]
        assert [r.event.role for r in h.sink.log[:ended] if isinstance(r.event, ev.TurnEnd)] == [
            "user"
        ]
        assert h.sink.violations == []
    finally:
        await h.close()
