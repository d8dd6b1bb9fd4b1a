"""A spoken conversation over a real socket: speech in, transcript, reply audio, history."""

from __future__ import annotations

import httpx
import pytest

from tests.doubles.llm_server import LLMServer
from tests.harness import ServerThread
from tests.speech import silence, speak
from tests.stream.conftest import new_conversation
from tests.stream_client import StreamClient

QUESTION = "What is the weather like in Paris today?"


@pytest.mark.parametrize(
    ("encoding", "rate"),
    [("pcm16", 16000), ("mulaw", 8000), ("opus", 48000), ("pcm16", 24000), ("opus", 16000)],
)
async def test_spoken_question_gets_a_spoken_answer(
    server: ServerThread,
    client: httpx.Client,
    api_key: str,
    llm: LLMServer,
    encoding: str,
    rate: int,
) -> None:
    sid = new_conversation(client)
    stream = await StreamClient.connect(
        server.ws_url, sid, api_key, sample_rate=rate, encoding=encoding
    )
    try:
        started = await stream.wait_for("session_started")
        assert started["session_id"] == sid
        await stream.send_silence(0.3)
        await stream.send_audio(speak(QUESTION))
        await stream.send_silence(1.5)
        await stream.wait_for("turn_start", role="user")
        user_final = await stream.wait_for("transcript", role="user", is_final=True)
        heard = user_final["text"].lower()
        if rate >= 16000:
            assert "weather" in heard
        else:  # narrowband: the embedded 16 kHz model hears words, not always the right ones
            assert len(heard.split()) >= 3
        interim = stream.of_type("transcript", role="user", is_final=False)
        assert interim and interim[0]["text"], "interim transcripts while the user speaks"
        user_end = await stream.wait_for("turn_end", role="user")
        assert user_end["turn_id"] == "turn_001" and user_end["duration_ms"] > 1000
        reply_start = await stream.wait_for("turn_start", role="assistant")
        assert 0 < reply_start["latency_ms"] < 5000
        end = await stream.wait_for("turn_end", role="assistant", timeout=30)
        assert end["turn_id"] == "turn_002" and end["interrupted"] is False
        final = stream.of_type("transcript", role="assistant", is_final=True)[-1]
        assert final["text"].startswith("You said:")
        assert heard.split()[-1] in final["text"].lower()
        # the reply's audio arrived, in the stream's format, about as long as the turn says
        assert stream.audio_seconds() == pytest.approx(end["duration_ms"] / 1000, abs=0.3)
        assert stream.audio_seconds() > 1.0
        # the LLM saw the user's words
        assert llm.chat_requests[-1].body["messages"][-1]["content"] == user_final["text"]
        # events came in the seed's order
        kinds = [(e["type"], e.get("role")) for e in stream.events if e["type"] != "transcript"]
        assert kinds.index(("turn_end", "user")) < kinds.index(("turn_start", "assistant"))
    finally:
        await stream.close()
    history = client.get(f"/v1/conversations/{sid}").json()
    assert history["status"] == "active"
    assert [t["role"] for t in history["history"]] == ["user", "assistant"]
    assert history["history"][0]["text"] == user_final["text"]
    assistant = history["history"][1]
    assert assistant["text"] == final["text"]
    assert assistant["latency_ms"] == reply_start["latency_ms"]
    breakdown = assistant["metadata"]["latency"]
    assert {"end_of_turn_ms", "stt_final_ms", "llm_first_token_ms", "first_audio_sent_ms"} <= set(
        breakdown
    )


@pytest.mark.parametrize("rate", [48000, 16000])
async def test_an_opus_reply_arrives_whole_before_its_turn_end(
    server: ServerThread, client: httpx.Client, api_key: str, llm: LLMServer, rate: int
) -> None:
    """Opus goes out in 20 ms packets: the end of a reply's audio (the resampler's tail
    and the last partial frame, padded) leaves with the reply, not with the next one."""
    sid = new_conversation(client)
    stream = await StreamClient.connect(
        server.ws_url, sid, api_key, sample_rate=rate, encoding="opus"
    )
    try:
        await stream.wait_for("session_started")
        for count in (1, 2):
            await stream.send_json({"type": "inject_user_message", "text": f"Question {count}."})
            end = await stream.wait_for("turn_end", role="assistant", count=count, timeout=30)
            packets = len(stream.audio_chunks)
            # every packet is one 20 ms frame (the encoder's frame_duration); together they
            # cover all that was played
            assert packets * 20 >= end["duration_ms"], (count, packets, end)
            stream.audio_chunks.clear()
    finally:
        await stream.close()


async def test_second_reply_sees_the_first_and_typed_turns(
    server: ServerThread, client: httpx.Client, api_key: str, llm: LLMServer
) -> None:
    sid = new_conversation(client, system_prompt="You are Ada, a tutor.")
    stream = await StreamClient.connect(server.ws_url, sid, api_key)
    try:
        await stream.wait_for("session_started")
        await stream.send_json({"type": "inject_user_message", "text": "My name is Grace."})
        await stream.wait_for("turn_end", role="assistant", timeout=30)
        await stream.send_json({"type": "inject_user_message", "text": "What is my name?"})
        await stream.wait_for("turn_end", role="assistant", count=2, timeout=30)
    finally:
        await stream.close()
    messages = llm.chat_requests[-1].body["messages"]
    assert messages[0]["role"] == "system" and "You are Ada, a tutor." in messages[0]["content"]
    assert [m["role"] for m in messages[1:]] == ["user", "assistant", "user"]
    assert messages[1]["content"] == "My name is Grace."
    assert messages[2]["content"] == "You said: My name is Grace. What else?"
    history = client.get(f"/v1/conversations/{sid}").json()["history"]
    assert [t["turn_id"] for t in history] == ["turn_001", "turn_002", "turn_003", "turn_004"]


async def test_context_window_trims_what_the_llm_sees(
    server: ServerThread, client: httpx.Client, api_key: str, llm: LLMServer
) -> None:
    sid = new_conversation(client, context_window=3)
    stream = await StreamClient.connect(server.ws_url, sid, api_key)
    try:
        await stream.wait_for("session_started")
        for i in range(3):
            await stream.send_json({"type": "inject_user_message", "text": f"Message number {i}."})
            await stream.wait_for("turn_end", role="assistant", count=i + 1, timeout=30)
    finally:
        await stream.close()
    messages = llm.chat_requests[-1].body["messages"]
    # system + the last 3 turns: assistant 1, user 2 (turn 5) ... i.e. exactly 3 turns
    assert len(messages) == 4
    assert [m["role"] for m in messages[1:]] == ["user", "assistant", "user"]
    assert messages[-1]["content"] == "Message number 2."
    assert messages[1]["content"] == "Message number 1."


async def test_max_turns_closes_after_the_assistant_answers(
    server: ServerThread, client: httpx.Client, api_key: str
) -> None:
    sid = new_conversation(client, max_turns=2)
    stream = await StreamClient.connect(server.ws_url, sid, api_key)
    await stream.wait_for("session_started")
    await stream.send_json({"type": "inject_user_message", "text": "Hello there."})
    await stream.wait_for("turn_end", role="assistant", timeout=30)
    ended = await stream.wait_for("session_ended")
    assert ended["reason"] == "max_turns"
    code, reason = await stream.wait_closed()
    assert code == 1000 and "max_turns" in (reason or "")
    body = client.get(f"/v1/conversations/{sid}").json()
    assert body["status"] == "ended" and body["total_turns"] == 2


async def test_silence_and_noise_do_not_start_turns(
    server: ServerThread, client: httpx.Client, api_key: str
) -> None:
    import numpy as np

    sid = new_conversation(client)
    stream = await StreamClient.connect(server.ws_url, sid, api_key)
    try:
        await stream.wait_for("session_started")
        rng = np.random.default_rng(7)
        burst = (rng.standard_normal(1600) * 8000).astype(np.int16)  # 100 ms of loud noise
        await stream.send_audio(np.concatenate([silence(0.5), burst, silence(1.0)]))
        assert stream.of_type("turn_start") == []
    finally:
        await stream.close()
    assert client.get(f"/v1/conversations/{sid}").json()["history"] == []
