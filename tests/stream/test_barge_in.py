"""Barge-in over a real socket: the reply stops fast, history keeps what was heard."""

from __future__ import annotations

import asyncio
import time

import httpx
import numpy as np

from tests.doubles.llm_server import LLMServer, Script, text
from tests.harness import ServerThread
from tests.speech import silence, speak
from tests.stream.conftest import new_conversation
from tests.stream_client import StreamClient

LONG_REPLY = (
    "Paris is the capital of France. It sits on the river Seine. "
    "It is known for the Eiffel Tower and the Louvre museum. "
    "Millions of people visit it every year. The food is wonderful. "
    "Spring is a lovely time to go there."
)


async def test_user_speech_interrupts_the_reply(
    server: ServerThread, client: httpx.Client, api_key: str, llm: LLMServer
) -> None:
    llm.responder = lambda req: Script(text(LONG_REPLY))
    sid = new_conversation(client)
    stream = await StreamClient.connect(server.ws_url, sid, api_key)
    try:
        await stream.wait_for("session_started")
        await stream.send_json({"type": "inject_user_message", "text": "Tell me about Paris."})
        await stream.wait_for("turn_start", role="assistant")
        # keep the microphone open (silence) while the assistant talks for a while
        await stream.send_silence(2.0)
        onset = time.monotonic()
        await stream.send_audio(speak("Please stop talking now."))
        await stream.send_silence(1.5)
        # the reply's audio is held at the first voiced frame (reply_paused), then the
        # words (not a backchannel) take the floor (interrupted, heard up to the pause)
        paused = await stream.wait_for("reply_paused")
        t_interrupted = stream.event_times[stream.events.index(paused)]
        interrupted = await stream.wait_for("interrupted")
        assert interrupted["turn_id"] == "turn_002"
        assert interrupted["played_ms"] == paused["played_ms"]
        assert 1500 < interrupted["played_ms"] < 4000
        assert stream.of_type("reply_resumed") == []
        # the server stopped within a fraction of a second of the speech onset ...
        assert t_interrupted - onset < 0.8
        end = await stream.wait_for("turn_end", role="assistant")
        assert end["interrupted"] is True and end["turn_id"] == "turn_002"
        assert abs(end["duration_ms"] - interrupted["played_ms"]) < 100
        # the interrupting speech is the next user turn
        user = await stream.wait_for("transcript", role="user", is_final=True, count=2, timeout=20)
        assert "stop" in user["text"].lower()
        second = await stream.wait_for("turn_start", role="assistant", count=2, timeout=30)
        t_second = stream.event_times[stream.events.index(second)]
        # no audio of the interrupted reply came after the interruption
        late = [t for t, _ in stream.audio_chunks if t_interrupted + 0.05 < t < t_second]
        assert late == []
        await stream.wait_for("turn_end", role="assistant", count=2, timeout=30)
    finally:
        await stream.close()
    history = client.get(f"/v1/conversations/{sid}").json()["history"]
    cut = history[1]
    assert cut["role"] == "assistant" and cut["interrupted"] is True
    assert cut["text"] and LONG_REPLY.startswith(cut["text"][:20])
    assert len(cut["text"]) < len(LONG_REPLY) * 0.7
    assert history[2]["role"] == "user" and "stop" in history[2]["text"].lower()
    # the LLM is told the previous answer was cut short
    messages = llm.chat_requests[-1].body["messages"]
    assert "interrupted" in messages[-2]["content"]


async def test_noise_burst_does_not_interrupt(
    server: ServerThread, client: httpx.Client, api_key: str, llm: LLMServer
) -> None:
    llm.responder = lambda req: Script(text(LONG_REPLY))
    sid = new_conversation(client)
    stream = await StreamClient.connect(server.ws_url, sid, api_key)
    try:
        await stream.wait_for("session_started")
        await stream.send_json({"type": "inject_user_message", "text": "Tell me about Paris."})
        await stream.wait_for("turn_start", role="assistant")
        rng = np.random.default_rng(3)
        burst = (rng.standard_normal(2400) * 6000).astype(np.int16)  # 150 ms of loud noise
        click = np.zeros(1600, dtype=np.int16)
        click[::160] = 30000  # a train of clicks
        await stream.send_audio(
            np.concatenate([silence(0.5), burst, silence(0.5), click, silence(0.5)])
        )
        await asyncio.sleep(0.5)
        assert stream.of_type("interrupted") == []
        assert len(stream.of_type("turn_start", role="user")) == 1  # the typed turn only
    finally:
        await stream.close()


async def test_client_vanishing_mid_reply_still_stores_the_turn(
    server: ServerThread, client: httpx.Client, api_key: str, llm: LLMServer
) -> None:
    llm.responder = lambda req: Script(
        text("This is a reply that keeps going. It has two sentences.")
    )
    sid = new_conversation(client)
    stream = await StreamClient.connect(server.ws_url, sid, api_key)
    await stream.wait_for("session_started")
    await stream.send_json({"type": "inject_user_message", "text": "Say something long."})
    await stream.wait_for("turn_start", role="assistant")
    stream.ws.transport.abort()  # no close handshake: the client just vanishes
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        history = client.get(f"/v1/conversations/{sid}").json()["history"]
        if len(history) == 2:
            break
        await asyncio.sleep(0.2)
    assert [t["role"] for t in history] == ["user", "assistant"]
    assert history[1]["text"] == "This is a reply that keeps going. It has two sentences."
    assert client.get("/healthz").json()["status"] == "ok"


async def test_a_backchannel_pauses_the_reply_and_it_goes_on(
    server: ServerThread, client: httpx.Client, api_key: str, llm: LLMServer
) -> None:
    """ "Right." over the reply: the audio stops at once (reply_paused), then goes on
    (reply_resumed); the reply is one whole assistant turn and "right" is not a turn.
    (The embedded pocketsphinx hears this voice's "Okay." as "o que": see README.)"""
    llm.responder = lambda req: Script(text(LONG_REPLY))
    sid = new_conversation(client)
    stream = await StreamClient.connect(server.ws_url, sid, api_key)
    try:
        await stream.wait_for("session_started")
        await stream.send_json({"type": "inject_user_message", "text": "Tell me about Paris."})
        await stream.wait_for("turn_start", role="assistant")
        await stream.send_silence(2.0)
        onset = time.monotonic()
        await stream.send_audio(speak("Right."))
        await stream.send_silence(1.0)
        paused = await stream.wait_for("reply_paused")
        t_paused = stream.event_times[stream.events.index(paused)]
        assert t_paused - onset < 0.8  # (a loose bound for a loaded machine: bench/ measures)
        resumed = await stream.wait_for("reply_resumed", timeout=10)
        t_resumed = stream.event_times[stream.events.index(resumed)]
        assert resumed["played_ms"] == paused["played_ms"]
        # from the start of the word the pause cut (at most a word back: ~1 s)
        assert paused["played_ms"] - 1000 < resumed["from_ms"] <= resumed["played_ms"]
        # no reply audio beyond the lead already in flight while it was held
        held = [t for t, _ in stream.audio_chunks if t_paused + 0.1 < t < t_resumed]
        assert held == []
        end = await stream.wait_for("turn_end", role="assistant", timeout=60)
        assert end["interrupted"] is False
        assert stream.of_type("interrupted") == []
        assert len(stream.of_type("turn_start", role="user")) == 1  # the typed one
    finally:
        await stream.close()
    history = client.get(f"/v1/conversations/{sid}").json()["history"]
    assert [t["role"] for t in history] == ["user", "assistant"]
    assert history[1]["interrupted"] is False
    assert history[1]["text"] == LONG_REPLY
