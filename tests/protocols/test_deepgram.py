"""The Deepgram Voice Agent API on Parley, driven by Deepgram's own SDK (`deepgram-sdk`)."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
import websockets
from deepgram.agent.v1.types import (
    AgentV1InjectAgentMessage,
    AgentV1InjectUserMessage,
    AgentV1SendFunctionCallResponse,
    AgentV1UpdatePrompt,
)
from deepgram.core.api_error import ApiError

from parley.transports import deepgram as transport
from tests.doubles.llm_server import LLMServer, Script, text, tool_call
from tests.harness import ServerThread
from tests.protocols.audio_match import a_breath_of_voice, check_resend, record_pauses
from tests.protocols.dg_client import Agent, connect, settings
from tests.speech import speak

LONG_REPLY = (
    "Paris is the capital of France. It sits on the river Seine. "
    "It is known for the Eiffel Tower and the Louvre museum. "
    "Millions of people visit it every year. The food is wonderful. "
    "Spring is a lovely time to go there."
)
WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


async def started(agent: Agent, **agent_fields: object) -> str:
    welcome = await agent.wait_for("Welcome")
    await agent.sock.send_settings(settings(**agent_fields))
    await agent.wait_for("SettingsApplied")
    return str(welcome.request_id)


async def test_spoken_question_gets_text_and_audio_back(
    server: ServerThread, client: httpx.Client, api_key: str, llm: LLMServer
) -> None:
    async with connect(server, api_key) as agent:
        sid = await started(agent)
        await agent.send_silence(0.5)
        await agent.send_audio(speak("Can you help me with my order?"))
        await agent.send_silence(1.5)
        user = await agent.wait_for("ConversationText", role="user", timeout=30)
        assert "help" in user.content.lower()
        assert await agent.wait_for("UserStartedSpeaking")
        await agent.wait_for("AgentThinking")
        speaking = await agent.wait_for("AgentStartedSpeaking", timeout=30)
        assert 0 < speaking.total_latency < 30  # seconds, not ms (figures: bench/)
        assert speaking.total_latency >= speaking.ttt_latency > 0
        assert speaking.tts_latency > 0
        reply = await agent.wait_for("ConversationText", role="assistant", timeout=30)
        assert reply.content.startswith("You said:")
        done = await agent.wait_for("AgentAudioDone", timeout=30)
        # linear16 at 24 kHz, as Settings.audio.output asked: about the reply's length
        assert agent.audio_seconds(24000) > 1.0
        assert all(len(b) % 2 == 0 for _, b in agent.audio)
        t_done = agent.times[agent.messages.index(done)]
        assert all(t <= t_done for t, _ in agent.audio)  # AgentAudioDone comes last
        history = await agent.wait_for("History", role="assistant")
        assert history.content.startswith("You said:")
    stored = client.get(f"/v1/conversations/{sid}").json()
    assert [t["role"] for t in stored["history"]] == ["user", "assistant"]
    assert "help" in stored["history"][0]["text"].lower()
    assert stored["metadata"]["protocol"] == "deepgram"
    assert stored["system_prompt"] == "You are a helpful assistant."


async def test_client_side_function_call(
    server: ServerThread, client: httpx.Client, api_key: str, llm: LLMServer
) -> None:
    llm.queue(
        Script(tool_call("get_weather", {"city": "Paris"}, id="call_7")),
        Script(text("It is sunny in Paris.")),
    )
    async with connect(server, api_key) as agent:
        await started(agent, think={"functions": [WEATHER]})
        await agent.sock.send_inject_user_message(
            AgentV1InjectUserMessage(content="Weather in Paris?")
        )
        request = await agent.wait_for("FunctionCallRequest")
        call = request.functions[0]
        assert (call.id, call.name, call.client_side) == ("call_7", "get_weather", True)
        assert json.loads(call.arguments) == {"city": "Paris"}
        await agent.sock.send_function_call_response(
            AgentV1SendFunctionCallResponse(
                id="call_7", name="get_weather", content='{"sky": "sunny"}'
            )
        )
        reply = await agent.wait_for("ConversationText", role="assistant", timeout=30)
        assert reply.content == "It is sunny in Paris."
        assert agent.of_type("UserStartedSpeaking") == []  # typed, not spoken
        user = agent.of_type("ConversationText", role="user")
        assert [u.content for u in user] == ["Weather in Paris?"]
    first, second = llm.chat_requests[-2].body, llm.chat_requests[-1].body
    assert first["tools"][0]["function"]["name"] == "get_weather"
    assert second["messages"][-1] == {
        "role": "tool",
        "tool_call_id": "call_7",
        "content": '{"sky": "sunny"}',
    }


async def test_update_prompt_and_inject_agent_message(
    server: ServerThread, api_key: str, llm: LLMServer
) -> None:
    async with connect(server, api_key) as agent:
        await started(agent, prompt="You are terse.")
        await agent.sock.send_update_prompt(AgentV1UpdatePrompt(prompt="Answer in French."))
        await agent.wait_for("PromptUpdated")
        await agent.sock.send_inject_agent_message(
            AgentV1InjectAgentMessage(message="Hello there, how can I help?")
        )
        said = await agent.wait_for("ConversationText", role="assistant", timeout=30)
        assert said.content == "Hello there, how can I help?"
        await agent.wait_for("AgentAudioDone", timeout=30)
        assert agent.audio_seconds() > 0.5
        # the older `content` field is accepted too
        await agent.sock.send_raw({"type": "InjectAgentMessage", "content": "Still there?"})
        await agent.wait_for("ConversationText", role="assistant", count=2, timeout=30)
        await agent.wait_for("AgentAudioDone", count=2, timeout=30)
        await agent.sock.send_inject_user_message(AgentV1InjectUserMessage(content="Bonjour"))
        await agent.wait_for("ConversationText", role="assistant", count=3, timeout=30)
    system = llm.chat_requests[-1].body["messages"][0]
    # Deepgram: UpdatePrompt adds to the prompt, it does not replace it
    assert system["role"] == "system"
    assert "You are terse." in system["content"] and "Answer in French." in system["content"]


async def test_barge_in_stops_the_reply(server: ServerThread, api_key: str, llm: LLMServer) -> None:
    llm.responder = lambda req: Script(text(LONG_REPLY))
    async with connect(server, api_key) as agent:
        await started(agent)
        await agent.sock.send_inject_user_message(
            AgentV1InjectUserMessage(content="Tell me about Paris.")
        )
        await agent.wait_for("AgentStartedSpeaking", timeout=30)
        await agent.send_silence(2.0)
        await agent.send_audio(speak("Please stop talking now."))
        barge = await agent.wait_for("UserStartedSpeaking")
        t_barge = agent.times[agent.messages.index(barge)]
        await agent.send_silence(1.5)
        await agent.wait_for("ConversationText", role="user", count=2, timeout=30)
        second = await agent.wait_for("AgentStartedSpeaking", count=2, timeout=30)
        t_second = agent.times[agent.messages.index(second)]
        # the cut reply's audio stopped at once: none after the barge-in, until the next reply
        late = [t for t, _ in agent.audio if t_barge + 0.3 < t < t_second]
        assert late == []
        assert agent.of_type("AgentAudioDone") == []  # the first reply never finished
        heard = agent.of_type("History", role="assistant")[0].content
        assert LONG_REPLY.startswith(heard[:20]) and len(heard) < len(LONG_REPLY)


async def test_bad_input_gets_errors_and_the_session_goes_on(
    server: ServerThread, api_key: str, llm: LLMServer
) -> None:
    async with connect(server, api_key) as agent:
        await agent.wait_for("Welcome")
        await agent.sock.send_media(b"\x00\x01" * 160)  # audio before Settings
        assert (await agent.wait_for("Error")).code == "SETTINGS_REQUIRED"
        await agent.sock.send_raw({"type": "InjectUserMessage", "content": "hi"})
        assert (await agent.wait_for("Error", count=2)).code == "SETTINGS_REQUIRED"
        bad = settings().dict()
        bad["audio"]["input"] = {"encoding": "flac", "sample_rate": 16000}
        await agent.sock.send_raw(bad)
        error = await agent.wait_for("Error", count=3)
        assert error.code == "UNSUPPORTED_AUDIO_FORMAT" and "audio.input.encoding" in (
            error.description
        )
        await agent.sock.send_settings(settings())
        await agent.wait_for("SettingsApplied")
        await agent.sock.send_raw("{not json")
        assert (await agent.wait_for("Error", count=4)).code == "UNPARSABLE_CLIENT_MESSAGE"
        await agent.sock.send_raw({"type": "Dance"})
        assert (await agent.wait_for("Error", count=5)).code == "UNKNOWN_MESSAGE_TYPE"
        await agent.sock.send_media(b"\x00\x01\x02")  # odd byte count: not linear16
        assert (await agent.wait_for("Error", count=6)).code == "INVALID_AUDIO"
        await agent.sock.send_raw({"type": "FunctionCallResponse", "id": "x", "name": "f"})
        assert (await agent.wait_for("Error", count=7)).code == "INVALID_MESSAGE"
        await agent.sock.send_settings(settings())
        assert (await agent.wait_for("Error", count=8)).code == "SETTINGS_ALREADY_APPLIED"
        await agent.sock.send_inject_user_message(AgentV1InjectUserMessage(content="Still ok?"))
        reply = await agent.wait_for("ConversationText", role="assistant", timeout=30)
        assert reply.content.startswith("You said: Still ok")
        assert not agent.closed


async def test_lenient_settings_warn_and_apply(server: ServerThread, api_key: str) -> None:
    async with connect(server, api_key) as agent:
        await agent.wait_for("Welcome")
        raw = {
            "type": "Settings",
            "audio": {
                "input": {"encoding": "linear16", "sample_rate": 16000.0},
                "output": {"encoding": "mulaw", "sample_rate": 8000.0, "container": "none"},
            },
            "agent": {
                "listen": {"provider": {"type": "deepgram", "model": "nova-3"}},
                "think": [
                    {"provider": {"type": "open_ai", "model": "gpt-4o"}, "prompt": "Be kind."},
                    {"provider": {"type": "anthropic", "model": "claude"}},
                ],
                "speak": [{"provider": {"type": "deepgram", "model": "aura-2-thalia-en"}}],
                "greeting": "Hi! I am Parley.",
                "mood": "cheerful",
            },
            "surprise": 1,
        }
        await agent.sock.send_raw(raw)
        await agent.wait_for("SettingsApplied")
        for code in ("LISTEN_MODEL_MAPPED", "UNUSED_FALLBACK", "UNSUPPORTED_FIELD"):
            await agent.wait_for("Warning", code=code, timeout=10)  # may trail the reply
        unknown = [w.description for w in agent.of_type("Warning", code="UNSUPPORTED_FIELD")]
        assert any("surprise" in d for d in unknown) and any("agent.mood" in d for d in unknown)
        # the greeting is spoken, in mu-law at 8 kHz: one byte a sample
        greeting = await agent.wait_for("ConversationText", role="assistant", timeout=30)
        assert greeting.content == "Hi! I am Parley."
        await agent.wait_for("AgentAudioDone", timeout=30)
        seconds = sum(len(b) for _, b in agent.audio) / 8000
        assert 0.8 < seconds < 5


async def test_a_parley_agent_by_id_and_prior_history(
    server: ServerThread, client: httpx.Client, api_key: str, llm: LLMServer
) -> None:
    created = client.post(
        "/v1/agents/create",
        json={
            "name": "Concierge",
            "voice_id": "espeak-en-us-female",
            "system_prompt": "You are the hotel concierge.",
        },
    )
    assert created.status_code in (200, 201), created.text
    agent_id = created.json()["id"]
    async with connect(server, api_key) as agent:
        await agent.wait_for("Welcome")
        raw = settings().dict()
        raw["agent"] = {
            "agent_id": agent_id,
            "context": {
                "messages": [
                    {"type": "History", "role": "user", "content": "My room is 12."},
                    {"type": "History", "role": "assistant", "content": "Noted, room 12."},
                ]
            },
        }
        await agent.sock.send_raw(raw)
        await agent.wait_for("SettingsApplied")
        sid = agent.of_type("Welcome")[0].request_id
        await agent.sock.send_inject_user_message(AgentV1InjectUserMessage(content="Towels?"))
        await agent.wait_for("ConversationText", role="assistant", timeout=30)
    messages = llm.chat_requests[-1].body["messages"]
    assert messages[0]["content"].startswith("You are the hotel concierge.")
    assert [m["content"] for m in messages[1:4]] == ["My room is 12.", "Noted, room 12.", "Towels?"]
    stored = client.get(f"/v1/conversations/{sid}").json()
    assert stored["agent_id"] == agent_id and stored["voice_id"] == "espeak-en-us-female"
    assert [t["text"] for t in stored["history"]][:3] == [m["content"] for m in messages[1:4]]


async def test_auth_header_schemes_and_subprotocol(server: ServerThread, api_key: str) -> None:
    url = f"{server.ws_url}/v1/agent/converse"
    for header in (f"Token {api_key}", f"Bearer {api_key}"):
        async with websockets.connect(url, additional_headers={"Authorization": header}) as ws:
            assert json.loads(await ws.recv())["type"] == "Welcome"
    # browsers: Sec-WebSocket-Protocol: token, <key>; the answer names "token", not the key
    async with websockets.connect(url, subprotocols=["token", api_key]) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "token"
        assert json.loads(await ws.recv())["type"] == "Welcome"
    with pytest.raises(ApiError) as refused:
        async with connect(server, "prl_not_a_key"):
            pass
    assert refused.value.status_code == 401


async def test_idle_socket_gets_an_error_and_is_closed(
    server: ServerThread, api_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transport, "IDLE_TIMEOUT_S", 1.0)
    async with connect(server, api_key) as agent:
        await started(agent)
        for _ in range(4):  # KeepAlive keeps it open
            await agent.sock.send_keep_alive()
            await asyncio.sleep(0.5)
        assert agent.of_type("Error") == []
        t0 = time.monotonic()
        error = await agent.wait_for("Error", timeout=5)
        assert error.code == "CLIENT_MESSAGE_TIMEOUT"
        assert 0.5 < time.monotonic() - t0 < 3
        await asyncio.wait_for(asyncio.shield(agent._reader), timeout=5)  # the socket closed
        assert agent.closed


async def test_oversized_or_wrong_settings_are_refused_by_field(
    server: ServerThread, api_key: str
) -> None:
    async with connect(server, api_key) as agent:
        await agent.wait_for("Welcome")
        cases = [
            ({"greeting": "x" * 20_000}, "agent.greeting"),
            ({"context": {"messages": [{"role": "user", "content": "y" * 20_000}]}}, "content"),
            ({"context": {"messages": [{"role": "system", "content": "hi"}]}}, "messages[0]"),
            ({"speak": {"provider": {"type": "parley", "voice_id": "no-such-voice"}}}, "no-such"),
            ({"agent_id": "agt_missing"}, "agt_missing"),
            ({"language": "klingon-x"}, "language"),
            ({"think": {"functions": [{"name": "bad name!"}]}}, "functions[0]"),
        ]
        for n, (fields, named) in enumerate(cases, start=1):
            raw = settings().dict()
            raw["agent"].update(fields)
            await agent.sock.send_raw(raw)
            error = await agent.wait_for("Error", count=n)
            assert named in error.description, (fields, error)
        assert agent.of_type("SettingsApplied") == []
        await agent.sock.send_settings(settings())
        await agent.wait_for("SettingsApplied")


async def test_a_backchannel_pauses_the_reply_and_it_goes_on_from_the_pause(
    server: ServerThread, api_key: str, llm: LLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A voice over the reply (the onset of a word): UserStartedSpeaking at once (the client flushes playback),
    no audio while it is held, then the reply goes on *from the paused position*: the
    audio the client flushed is sent again first. One whole reply, stored whole."""
    llm.responder = lambda req: Script(text(LONG_REPLY))
    pauses = record_pauses(monkeypatch)
    async with connect(server, api_key) as agent:
        await started(agent)
        await agent.sock.send_inject_user_message(
            AgentV1InjectUserMessage(content="Tell me about Paris.")
        )
        await agent.wait_for("AgentStartedSpeaking", timeout=30)
        await agent.send_silence(1.0)  # mid-sentence: the next one's TTS does not starve it
        await agent.send_audio(a_breath_of_voice())
        await agent.send_silence(1.0)
        flush = await agent.wait_for("UserStartedSpeaking")
        t_flush = agent.times[agent.messages.index(flush)]
        await agent.wait_for("AgentAudioDone", timeout=60)
        assert len(agent.of_type("UserStartedSpeaking")) == 1
        assert len(agent.of_type("AgentStartedSpeaking")) == 1
        history = await agent.wait_for("History", role="assistant")
        assert history.content == LONG_REPLY
        before = b"".join(b for t, b in agent.audio if t <= t_flush)
        check_resend(pauses, before, next(b for t, b in agent.audio if t > t_flush))
