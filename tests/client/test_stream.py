"""Streaming through the SDK against a real server: speech from a WAV file, tools answered
automatically, iteration, the sync twin, refusals and takeovers."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from parley.audio.wav import read_wav
from parley.client import (
    AsyncParley,
    Audio,
    Close,
    Disconnected,
    ErrorEvent,
    Parley,
    ParleyError,
    SessionEnded,
    SessionStarted,
    ToolCall,
    Transcript,
    TurnEnd,
    TurnStart,
)
from tests.client.conftest import LOOKUP, VOICE
from tests.doubles.llm_server import LLMServer, Script, text, tool_call


async def test_spoken_question_from_a_wav_file(
    aparley: AsyncParley, llm: LLMServer, question_wav: Path, tmp_path: Path
) -> None:
    conv = await aparley.conversations.create(voice_id=VOICE, system_prompt="You help.")
    finals: list[Transcript] = []
    async with aparley.conversations.stream(conv.session_id) as stream:
        stream.on("transcript", lambda e: finals.append(e) if e.is_final else None)
        started = stream.find("session_started")
        assert isinstance(started, SessionStarted) and started.session_id == conv.session_id
        seconds = await stream.play_file(question_wav, then_silence=1.5)
        assert seconds > 3.0
        user = await stream.wait_for(Transcript, role="user", is_final=True, timeout=20)
        assert "weather" in user.text.lower() and user.turn_id == "turn_001"
        start = await stream.wait_for(TurnStart, role="assistant", timeout=20)
        end = await stream.wait_for(TurnEnd, role="assistant", timeout=30)
        assert isinstance(end, TurnEnd) and end.turn_id == "turn_002" and not end.interrupted
        assert start.latency_ms is not None and start.latency_ms > 0
        assert stream.audio_seconds == pytest.approx(end.duration_ms / 1000, abs=0.3)
        stream.save_audio(tmp_path / "reply.wav")
    assert stream.closed and stream.close_event == Close(code=1000, reason="closed by the client")
    saved, rate = read_wav(tmp_path / "reply.wav")
    assert rate == 16000 and len(saved) == len(stream.audio) > 16000
    assert [(t.role, t.turn_id) for t in finals] == [
        ("user", "turn_001"),
        ("assistant", "turn_002"),
    ]
    assert finals[1].text.startswith("You said:")
    assert llm.chat_requests[-1].body["messages"][-1]["content"] == user.text
    history = (await aparley.conversations.get(conv.session_id)).history
    assert [(t.turn_id, t.text) for t in history] == [(t.turn_id, t.text) for t in finals]


async def test_tool_calls_are_answered_by_registered_functions(
    aparley: AsyncParley, llm: LLMServer
) -> None:
    llm.queue(
        Script(tool_call("lookup_order", {"order_id": "A42"}, id="call_1")),
        Script(text("Your order A42 has shipped.")),
    )
    conv = await aparley.conversations.create(
        voice_id=VOICE, system_prompt="You help.", tools=[LOOKUP]
    )
    calls: list[tuple[str, str]] = []
    stream = aparley.conversations.stream(conv.session_id)

    @stream.tool("lookup_order")
    def lookup_order(order_id: str) -> dict[str, str]:  # a plain function: runs in a thread
        calls.append((order_id, threading.current_thread().name))
        return {"order_id": order_id, "status": "shipped"}

    async with stream:
        await stream.inject_user_message("Where is order A42?")
        call = await stream.wait_for(ToolCall, timeout=20)
        assert (call.call_id, call.name, call.arguments) == (
            "call_1",
            "lookup_order",
            {"order_id": "A42"},
        )
        end = await stream.wait_for(TurnEnd, role="assistant", timeout=30)
    assert calls and calls[0][0] == "A42" and calls[0][1] != threading.current_thread().name
    tool_message = llm.chat_requests[-1].body["messages"][-1]
    assert tool_message == {
        "role": "tool",
        "tool_call_id": "call_1",
        "content": json.dumps({"order_id": "A42", "status": "shipped"}),
    }
    history = (await aparley.conversations.get(conv.session_id)).history
    assert history[-1].turn_id == end.turn_id
    assert history[-1].metadata["tool_calls"][0]["result"]["status"] == "shipped"


async def test_a_failing_tool_answers_with_an_error(aparley: AsyncParley, llm: LLMServer) -> None:
    llm.queue(
        Script(tool_call("lookup_order", {"order_id": "Z9"}, id="call_z")),
        Script(text("I could not find that order.")),
    )
    conv = await aparley.conversations.create(
        voice_id=VOICE, system_prompt="You help.", tools=[LOOKUP]
    )
    async with aparley.conversations.stream(conv.session_id) as stream:

        async def lookup_order(order_id: str) -> dict[str, str]:
            raise KeyError(order_id)

        stream.tool("lookup_order", lookup_order)
        await stream.inject_user_message("Where is order Z9?")
        failure = await stream.wait_for(ErrorEvent, code="tool_error", timeout=20)
        assert isinstance(failure, ErrorEvent) and failure.client_side
        assert isinstance(failure.exception, KeyError)
        await stream.wait_for(TurnEnd, role="assistant", timeout=30)
    tool_message = llm.chat_requests[-1].body["messages"][-1]
    assert tool_message["tool_call_id"] == "call_z"
    assert json.loads(tool_message["content"]) == {"error": "KeyError: 'Z9'"}


async def test_async_for_yields_typed_events_in_order(aparley: AsyncParley) -> None:
    conv = await aparley.conversations.create(voice_id=VOICE, system_prompt="You help.")
    seen: list[str] = []
    audio = 0
    async with aparley.conversations.stream(conv.session_id) as stream:
        await stream.inject_user_message("Hello there.")
        async for event in stream:
            if isinstance(event, Audio):
                audio += len(event.samples)
                assert event.sample_rate == 16000 and event.samples.dtype == np.int16
                continue
            seen.append(f"{event.type}:{getattr(event, 'role', '')}")
            if isinstance(event, TurnEnd) and event.role == "assistant":
                await stream.close()
    assert seen[0] == "session_started:"
    assert seen[1:4] == ["turn_start:user", "transcript:user", "turn_end:user"]
    assert seen.index("turn_start:assistant") > seen.index("turn_end:user")
    assert seen[-2:] == ["turn_end:assistant", "close:"]  # close is the last event
    assert audio > 16000


def test_sync_twin_round_trip(parley: Parley) -> None:
    conv = parley.conversations.create(voice_id=VOICE, system_prompt="You help.")
    finals: list[tuple[str, str]] = []
    threads: set[str] = set()
    with parley.conversations.stream(conv.session_id) as stream:

        @stream.on("transcript")
        def on_transcript(event: Transcript) -> None:
            threads.add(threading.current_thread().name)
            if event.is_final:
                finals.append((event.role, event.text))

        @stream.on("turn_end")
        def on_turn_end(event: TurnEnd) -> None:
            if event.turn_id == "turn_002":  # from a handler: queued, never blocks
                stream.inject_user_message("And again.")

        stream.inject_user_message("Hello there.")
        stream.wait_for("turn_end", role="assistant", timeout=30)  # by name: an Event
        last = stream.wait_for(TurnEnd, role="assistant", timeout=30)
        assert last.turn_id == "turn_004"
        assert stream.audio_seconds > 1.0
        with pytest.raises(TimeoutError):
            stream.wait_for(SessionEnded, timeout=0.2)
    assert finals == [
        ("user", "Hello there."),
        ("assistant", "You said: Hello there. What else?"),
        ("user", "And again."),
        ("assistant", "You said: And again. What else?"),
    ]
    assert threads and threading.current_thread().name not in threads
    assert stream.closed and stream.wait_for(Close).code == 1000
    with pytest.raises(ParleyError) as info:
        stream.inject_user_message("Too late.")
    assert info.value.type == "stream_closed"
    assert [t.text for t in parley.conversations.get(conv.session_id).history][0] == "Hello there."


async def test_refusals_raise_parley_errors(aparley: AsyncParley) -> None:
    with pytest.raises(ParleyError) as info:
        await aparley.conversations.stream("conv_doesnotexist1", last_turn_id="turn_000").connect()
    assert (info.value.status, info.value.type, info.value.param) == (
        404,
        "not_found_error",
        "session_id",
    )
    conv = await aparley.conversations.create(voice_id=VOICE, system_prompt="You help.")
    await aparley.conversations.delete(conv.session_id)
    stream = aparley.conversations.stream(conv.session_id)
    closes: list[Close] = []
    stream.on("close", closes.append)
    with pytest.raises(ParleyError) as info:
        await stream.connect()
    assert info.value.status == 410
    assert stream.closed and closes and closes[0].error is info.value


async def test_a_newer_connection_takes_over_without_a_reconnection_fight(
    aparley: AsyncParley,
) -> None:
    conv = await aparley.conversations.create(voice_id=VOICE, system_prompt="You help.")
    first = aparley.conversations.stream(conv.session_id)
    await first.connect()
    async with aparley.conversations.stream(conv.session_id) as second:
        close = await first.wait_for(Close, timeout=10)
        assert isinstance(close, Close) and close.code == 4409 and close.error is not None
        assert first.find(Disconnected) is None and first.connection_attempts == 1
        await second.inject_user_message("Still here?")
        await second.wait_for(TurnEnd, role="assistant", timeout=30)
    with pytest.raises(ParleyError):
        await first.wait_for(TurnEnd, timeout=1)


async def test_session_ended_closes_the_stream_for_good(aparley: AsyncParley) -> None:
    conv = await aparley.conversations.create(
        voice_id=VOICE, system_prompt="You help.", max_turns=2
    )
    async with aparley.conversations.stream(conv.session_id) as stream:
        await stream.inject_user_message("Just one question.")
        ended = await stream.wait_for(SessionEnded, timeout=30)
        close = await stream.wait_for(Close, timeout=10)
    assert ended.reason == "max_turns"
    assert close.code == 1000 and close.error is None and "max_turns" in close.reason
    assert stream.find(Disconnected) is None and stream.connection_attempts == 1


async def test_opus_at_48k_is_encoded_and_decoded(aparley: AsyncParley) -> None:
    conv = await aparley.conversations.create(voice_id=VOICE, system_prompt="You help.")
    stream = aparley.conversations.stream(conv.session_id, sample_rate=48000, encoding="opus")
    async with stream:
        await stream.send_silence(0.3)  # encoded by the SDK: the server must accept it
        await stream.send_audio(np.zeros(960, dtype=np.float32))  # floats are converted
        await stream.inject_user_message("Hello there.")
        end = await stream.wait_for(TurnEnd, role="assistant", timeout=30)
    assert stream.find(ErrorEvent) is None
    assert stream.audio_seconds == pytest.approx(end.duration_ms / 1000, abs=0.3)
    assert stream.audio.dtype == np.int16 and np.abs(stream.audio).max() > 1000


def test_handler_failures_and_closing_from_a_handler(parley: Parley) -> None:
    conv = parley.conversations.create(voice_id=VOICE, system_prompt="You help.")
    errors: list[ErrorEvent] = []
    with parley.conversations.stream(conv.session_id) as stream:
        stream.on("error", errors.append)
        stream.on("turn_start", lambda e: 1 / 0)
        stream.on("turn_end", lambda e: stream.close() if e.role == "user" else None)
        with pytest.raises(ValueError):
            stream.on("transcripts", print)  # a typo is caught
        stream.inject_user_message("Hello.")
        close = stream.wait_for(Close, timeout=10)
    assert close.code == 1000 and close.error is None
    assert errors and errors[0].code == "handler_error" and errors[0].client_side
    assert isinstance(errors[0].exception, ZeroDivisionError)
    assert stream.closed and stream.find(TurnEnd, role="assistant") is None
    with pytest.raises(ParleyError):
        stream.wait_for(TurnEnd, role="assistant", timeout=1)
    assert [e.type for e in stream][-1] == "close"  # what was queued, then the end
