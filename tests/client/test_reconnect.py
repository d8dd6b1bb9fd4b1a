"""Resilience: a TCP proxy cuts the stream mid-reply; the SDK reconnects with backoff and
each turn reaches the handlers exactly once; a deleted session ends the stream for good."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest

import parley.client._link as link
from parley.client import (
    AsyncParley,
    Close,
    Disconnected,
    ErrorEvent,
    Reconnected,
    Transcript,
    TurnEnd,
    TurnStart,
)
from parley.client.resume import TurnFilter, backoff_delay
from tests.client.conftest import VOICE
from tests.client.proxy import TcpProxy
from tests.doubles.llm_server import LLMServer, Script, text
from tests.harness import ServerThread

PROMPT = "You are a storyteller."
# Several seconds of speech: the link is cut as it starts, and the reconnection must be
# back before it ends (the echo reply, ~2 s, left too thin a margin on a loaded machine).
STORY = (
    "Once upon a time, a keeper lived in a lighthouse by the sea. "
    "Every night he climbed the stairs and lit the lamp for the ships."
)


@pytest.fixture
async def via_proxy(proxy: TcpProxy, api_key: str) -> AsyncIterator[AsyncParley]:
    async with AsyncParley(base_url=proxy.url, api_key=api_key) as client:
        yield client


@pytest.fixture
def backoffs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, float, float]]:
    """Record the backoff calls, and keep the waits short (the policy is tested below)."""
    calls: list[tuple[int, float, float]] = []

    def quick(attempt: int, base: float, cap: float) -> float:
        calls.append((attempt, base, cap))
        return 0.05

    monkeypatch.setattr(link, "backoff_delay", quick)
    return calls


def cut_on_first_reply(proxy: TcpProxy, refuse: bool = False) -> Callable[[TurnStart], None]:
    """A `turn_start` handler cutting the link as the first reply starts playing."""
    done: list[bool] = []

    def handler(event: TurnStart) -> None:
        if event.role == "assistant" and not done:
            done.append(True)
            proxy.refuse = refuse
            proxy.cut()

    return handler


async def history_ids(aparley: AsyncParley, sid: str) -> list[str]:
    return [t.turn_id for t in (await aparley.conversations.get(sid)).history]


async def test_cut_mid_reply_reconnects_and_delivers_every_turn_once(
    aparley: AsyncParley,
    via_proxy: AsyncParley,
    proxy: TcpProxy,
    backoffs: list[tuple[int, float, float]],
    llm: LLMServer,
) -> None:
    llm.queue(Script(text(STORY)))  # the first reply; the second is the echo
    conv = await aparley.conversations.create(voice_id=VOICE, system_prompt=PROMPT)
    ends: list[TurnEnd] = []
    log: list[str] = []
    async with via_proxy.conversations.stream(conv.session_id) as stream:
        stream.on("turn_end", ends.append)
        stream.on("turn_start", cut_on_first_reply(proxy))
        stream.on("*", lambda e: log.append(e.type))
        await stream.inject_user_message("Tell me a story.")
        back = await stream.wait_for("reconnected", timeout=15)
        assert isinstance(back, Reconnected) and back.last_turn_id == "turn_001"
        assert stream.find(Disconnected, code=1006) is not None
        reply = await stream.wait_for(TurnEnd, role="assistant", timeout=30)
        # the reply went on playing on the new connection, live
        assert not reply.replayed and "audio" in log[log.index("reconnected") :]
        await stream.inject_user_message("And the sea?")
        await stream.wait_for(TurnEnd, role="assistant", timeout=30)
    ids = [e.turn_id for e in ends]
    assert ids == ["turn_001", "turn_002", "turn_003", "turn_004"]
    assert ids == await history_ids(aparley, conv.session_id)
    assert proxy.stream_connects() == 2 and stream.connection_attempts == 2
    assert backoffs == [(0, 0.25, 8.0)]


async def test_an_outage_longer_than_the_reply_is_replayed(
    aparley: AsyncParley,
    via_proxy: AsyncParley,
    proxy: TcpProxy,
    backoffs: list[tuple[int, float, float]],
) -> None:
    conv = await aparley.conversations.create(voice_id=VOICE, system_prompt=PROMPT)
    ends: list[TurnEnd] = []
    patient = via_proxy.conversations.stream(conv.session_id, max_reconnect_attempts=1000)
    async with patient as stream:
        stream.on("turn_end", ends.append)
        stream.on("turn_start", cut_on_first_reply(proxy, refuse=True))
        await stream.inject_user_message("Tell me a story.")
        await stream.wait_for("disconnected", timeout=15)
        deadline = time.monotonic() + 20
        while len(await history_ids(aparley, conv.session_id)) < 2:  # the reply is stored
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
        proxy.refuse = False
        back = await stream.wait_for(Reconnected, timeout=15)
        end = await stream.wait_for(TurnEnd, role="assistant", timeout=15)
        assert end.replayed and end.turn_id == "turn_002"
        final = stream.find(Transcript, role="assistant", is_final=True)
        assert final is not None and final.replayed and final.text.startswith("You said:")
        await stream.inject_user_message("And the sea?")
        await stream.wait_for(TurnEnd, role="assistant", turn_id="turn_004", timeout=30)
    assert back.attempts == len(proxy.refused) + 1 >= 2
    assert [a for a, _, _ in backoffs] == list(range(back.attempts))  # growing exponents
    ids = [e.turn_id for e in ends]
    assert ids == ["turn_001", "turn_002", "turn_003", "turn_004"]
    assert ids == await history_ids(aparley, conv.session_id)


async def test_turns_replayed_twice_are_delivered_once(
    aparley: AsyncParley,
    via_proxy: AsyncParley,
    proxy: TcpProxy,
    backoffs: list[tuple[int, float, float]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A client that always resumes from the start: the server replays every turn, the
    # ones already delivered included; the filter must hold those back.
    monkeypatch.setattr(TurnFilter, "resume_from", property(lambda self: "turn_000"))
    conv = await aparley.conversations.create(voice_id=VOICE, system_prompt=PROMPT)
    ends: list[TurnEnd] = []
    finals: list[str] = []
    async with via_proxy.conversations.stream(conv.session_id) as stream:
        stream.on("turn_end", ends.append)
        stream.on("transcript", lambda e: finals.append(e.turn_id) if e.is_final else None)
        await stream.inject_user_message("One.")
        await stream.wait_for(TurnEnd, role="assistant", timeout=30)
        proxy.cut()
        await stream.wait_for(Reconnected, timeout=15)
        await stream.inject_user_message("Two.")
        await stream.wait_for(TurnEnd, role="assistant", timeout=30)
    assert [e.turn_id for e in ends] == ["turn_001", "turn_002", "turn_003", "turn_004"]
    assert finals == ["turn_001", "turn_002", "turn_003", "turn_004"]
    assert stream.replays_dropped == 4  # two turns' transcript and turn_end, replayed


async def test_a_deleted_session_ends_the_stream_without_reconnecting(
    aparley: AsyncParley, via_proxy: AsyncParley, proxy: TcpProxy
) -> None:
    conv = await aparley.conversations.create(voice_id=VOICE, system_prompt=PROMPT)
    async with via_proxy.conversations.stream(conv.session_id) as stream:
        closes: list[Close] = []
        stream.on("close", closes.append)
        await aparley.conversations.delete(conv.session_id)
        close = await stream.wait_for(Close, timeout=10)
        await asyncio.sleep(1.0)  # time for a reconnection loop to show itself
    assert close.code == 4000 and close.error is not None and close.error.close_code == 4000
    assert closes == [close] and stream.find(Disconnected) is None
    assert proxy.stream_connects() == 1 and stream.connection_attempts == 1


async def test_deleted_during_an_outage_stops_at_the_410(
    aparley: AsyncParley,
    via_proxy: AsyncParley,
    proxy: TcpProxy,
    backoffs: list[tuple[int, float, float]],
) -> None:
    conv = await aparley.conversations.create(voice_id=VOICE, system_prompt=PROMPT)
    # Patient: with the 50 ms test backoff, the default 10 attempts are spent in ~0.5 s,
    # and the DELETE below may take longer than that on a loaded machine; the client would
    # then give up on its own ("gave up reconnecting") before it ever sees the 410.
    patient = via_proxy.conversations.stream(conv.session_id, max_reconnect_attempts=1000)
    async with patient as stream:
        proxy.refuse = True
        proxy.cut()
        await stream.wait_for(Disconnected, timeout=10)
        await aparley.conversations.delete(conv.session_id)
        proxy.refuse = False
        close = await stream.wait_for(Close, timeout=10)
        attempts = stream.connection_attempts
        await asyncio.sleep(0.5)
        assert stream.connection_attempts == attempts  # no loop after the refusal
    assert close.error is not None and close.error.status == 410
    assert stream.find(ErrorEvent, code="reconnect_failed") is not None
    assert stream.find(Reconnected) is None


async def test_max_reconnect_attempts_gives_up(
    server: ServerThread,
    api_key: str,
    aparley: AsyncParley,
    proxy: TcpProxy,
    backoffs: list[tuple[int, float, float]],
) -> None:
    conv = await aparley.conversations.create(voice_id=VOICE, system_prompt=PROMPT)
    async with AsyncParley(base_url=proxy.url, api_key=api_key) as client:
        stream = client.conversations.stream(conv.session_id, max_reconnect_attempts=3)
        async with stream:
            proxy.refuse = True
            proxy.cut()
            close = await stream.wait_for(Close, timeout=10)
    assert stream.connection_attempts == 1 + 3 and len(backoffs) == 3
    assert close.error is not None and "3 attempt" in close.error.message


def test_backoff_is_exponential_with_full_jitter() -> None:
    assert [backoff_delay(n, rand=lambda: 1.0) for n in range(8)] == [
        0.25,
        0.5,
        1.0,
        2.0,
        4.0,
        8.0,
        8.0,
        8.0,
    ]
    assert backoff_delay(3, rand=lambda: 0.0) == 0.0
    samples = [backoff_delay(2) for _ in range(200)]
    assert all(0.0 <= s <= 1.0 for s in samples) and len(set(samples)) > 100


def test_turn_filter() -> None:
    f = TurnFilter("turn_002")  # the application had seen turns 1 and 2
    assert f.resume_from == "turn_002"
    assert not f.admit("turn_end", "turn_002")
    assert f.admit("transcript", "turn_003") and f.admit("turn_end", "turn_003")
    assert not f.admit("transcript", "turn_003") and not f.admit("turn_end", "turn_003")
    assert f.resume_from == "turn_003"
    assert f.admit("turn_end", None) and f.admit("turn_end", None)  # discarded turns
    assert f.admit("transcript", "turn_005") and f.resume_from == "turn_003"  # no turn_end yet
    assert f.admit("turn_end", "turn_004") and f.resume_from == "turn_004"
    assert f.admit("turn_end", "turn_1000") and f.resume_from == "turn_1000"
    assert f.dropped == 3
    assert TurnFilter().resume_from is None and TurnFilter().admit("turn_end", "turn_001")


async def test_a_stream_token_stream_reconnects_with_its_resume_token(
    aparley: AsyncParley,
    proxy: TcpProxy,
    backoffs: list[tuple[int, float, float]],
    llm: LLMServer,
) -> None:
    """A client holding only a stream token (single use: spent by the first connection)
    reconnects with the `resume_token` its `session_started` carried; each turn once.
    Before, the reconnection was refused (401) and the stream ended."""
    llm.queue(Script(text(STORY)))
    conv = await aparley.conversations.create(voice_id=VOICE, system_prompt=PROMPT)
    token = await aparley.conversations.stream_token(conv.session_id)
    ends: list[TurnEnd] = []
    async with (
        AsyncParley(base_url=proxy.url, api_key=token.token) as device,
        device.conversations.stream(conv.session_id) as stream,
    ):
        stream.on("turn_end", ends.append)
        stream.on("turn_start", cut_on_first_reply(proxy))
        await stream.inject_user_message("Tell me a story.")
        back = await stream.wait_for("reconnected", timeout=15)
        assert isinstance(back, Reconnected) and back.attempts == 1
        await stream.wait_for(TurnEnd, role="assistant", timeout=30)
        await stream.inject_user_message("And the sea?")
        await stream.wait_for(TurnEnd, role="assistant", turn_id="turn_004", timeout=30)
    ids = [e.turn_id for e in ends]
    assert ids == ["turn_001", "turn_002", "turn_003", "turn_004"]
    assert ids == await history_ids(aparley, conv.session_id)
    assert proxy.stream_connects() == 2
