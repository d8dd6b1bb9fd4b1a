"""OpenAI's Realtime API (GA subset) on Parley, driven by the `openai` package's client."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from tests.doubles.llm_server import LLMServer, Script, text, tool_call
from tests.harness import ServerThread
from tests.protocols.audio_match import a_breath_of_voice, check_resend, record_pauses
from tests.protocols.rt_client import Realtime, connect
from tests.speech import speak

LONG_REPLY = (
    "Paris is the capital of France. It sits on the river Seine. "
    "It is known for the Eiffel Tower and the Louvre museum. "
    "Millions of people visit it every year. The food is wonderful. "
    "Spring is a lovely time to go there."
)


def user_text(text: str) -> dict[str, object]:
    return {
        "type": "conversation.item.create",
        "item": {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": text}],
        },
    }


def one_done_per_created(rt: Realtime) -> None:
    created = [e["response"]["id"] for e in rt.of_type("response.created")]
    done = [e["response"]["id"] for e in rt.of_type("response.done")]
    assert created == done


async def test_typed_exchange(
    server: ServerThread, client: httpx.Client, api_key: str, llm: LLMServer
) -> None:
    async with connect(server, api_key) as rt:
        created = await rt.wait_for("session.created")
        sid = created["session"]["id"]
        await rt.send(
            {
                "type": "session.update",
                "session": {
                    "type": "realtime",
                    "instructions": "You are a pirate.",
                    "audio": {
                        "output": {"voice": "alloy", "format": {"type": "audio/pcm", "rate": 24000}}
                    },
                },
            }
        )
        updated = await rt.wait_for("session.updated")
        assert updated["session"]["instructions"] == "You are a pirate."
        await rt.send(user_text("Hello there"))
        await rt.wait_for("conversation.item.added")
        await rt.send({"type": "response.create"})
        done = await rt.wait_for("response.done")
        assert done["response"]["status"] == "completed"
        item = done["response"]["output"][0]
        assert item["content"][0]["transcript"] == "You said: Hello there. What else?"
        deltas = "".join(e["delta"] for e in rt.of_type("response.output_audio_transcript.delta"))
        assert deltas == "You said: Hello there. What else?"
        assert rt.audio_bytes() / 2 / 24000 > 1.0  # pcm16 at 24 kHz
        assert rt.of_type("response.output_audio.done")
        one_done_per_created(rt)
    assert llm.chat_requests[-1].body["messages"][0]["content"].startswith("You are a pirate.")
    stored = client.get(f"/v1/conversations/{sid}").json()
    assert [t["role"] for t in stored["history"]] == ["user", "assistant"]


async def test_spoken_exchange(server: ServerThread, api_key: str, llm: LLMServer) -> None:
    async with connect(server, api_key) as rt:
        await rt.wait_for("session.created")
        await rt.send_silence(0.5)
        await rt.send_audio(speak("Can you help me with my order?"))
        await rt.send_silence(1.5)
        started = await rt.wait_for("input_audio_buffer.speech_started")
        heard = await rt.wait_for("conversation.item.input_audio_transcription.completed")
        assert heard["item_id"] == started["item_id"]
        # the small embedded recogniser may miss a word of espeak's speech, not all of them
        assert {"help", "order"} & set(heard["transcript"].lower().split())
        assert (await rt.wait_for("input_audio_buffer.committed"))["item_id"] == started["item_id"]
        done = await rt.wait_for("response.done", timeout=40)
        assert done["response"]["status"] == "completed"
        assert rt.audio_bytes() > 24000
        one_done_per_created(rt)
    assert llm.chat_requests[-1].body["messages"][-1]["content"] == heard["transcript"]


async def test_function_tool(server: ServerThread, api_key: str, llm: LLMServer) -> None:
    llm.queue(
        Script(tool_call("get_weather", {"city": "Paris"}, id="call_9")),
        Script(text("It is sunny in Paris.")),
    )
    tool = {
        "type": "function",
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
    async with connect(server, api_key) as rt:
        await rt.wait_for("session.created")
        await rt.send({"type": "session.update", "session": {"type": "realtime", "tools": [tool]}})
        updated = await rt.wait_for("session.updated")
        assert updated["session"]["tools"][0]["name"] == "get_weather"
        await rt.send(user_text("Weather in Paris?"))
        await rt.send({"type": "response.create"})
        args = await rt.wait_for("response.function_call_arguments.done")
        assert args["call_id"] == "call_9" and json.loads(args["arguments"]) == {"city": "Paris"}
        first = await rt.wait_for("response.done")
        assert first["response"]["output"][0]["type"] == "function_call"
        await rt.send(
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "function_call_output",
                    "call_id": "call_9",
                    "output": '{"sky": "sunny"}',
                },
            }
        )
        await rt.send({"type": "response.create"})
        second = await rt.wait_for("response.done", count=2)
        assert (
            second["response"]["output"][0]["content"][0]["transcript"] == "It is sunny in Paris."
        )
        one_done_per_created(rt)
    assert llm.chat_requests[-1].body["messages"][-1]["content"] == '{"sky": "sunny"}'


async def test_interruption_cancels_the_response_and_truncate_is_acknowledged(
    server: ServerThread, client: httpx.Client, api_key: str, llm: LLMServer
) -> None:
    llm.responder = lambda req: Script(text(LONG_REPLY))
    async with connect(server, api_key) as rt:
        sid = (await rt.wait_for("session.created"))["session"]["id"]
        await rt.send(user_text("Tell me about Paris."))
        await rt.send({"type": "response.create"})
        await rt.wait_for("response.output_audio.delta")
        await rt.send_silence(2.0)
        await rt.send_audio(speak("Please stop talking now."))
        await rt.wait_for("input_audio_buffer.speech_started")
        cut = await rt.wait_for("response.done")
        assert cut["response"]["status"] == "cancelled"
        assert cut["response"]["status_details"]["reason"] == "turn_detected"
        item_id = cut["response"]["output"][0]["id"]
        await rt.send(
            {
                "type": "conversation.item.truncate",
                "item_id": item_id,
                "content_index": 0,
                "audio_end_ms": 1500,
            }
        )
        assert (await rt.wait_for("conversation.item.truncated"))["item_id"] == item_id
        await rt.send_silence(1.5)
        await rt.wait_for("response.done", count=2, timeout=40)
        one_done_per_created(rt)
    history = client.get(f"/v1/conversations/{sid}").json()["history"]
    assert history[1]["interrupted"] is True and len(history[1]["text"]) < len(LONG_REPLY)


async def test_bad_input_gets_error_events(
    server: ServerThread, api_key: str, llm: LLMServer
) -> None:
    async with connect(server, api_key) as rt:
        await rt.wait_for("session.created")
        await rt.conn.send_raw("{nope")
        assert (await rt.wait_for("error"))["error"]["code"] == "invalid_json"
        await rt.send({"type": "input_audio_buffer.append", "audio": "***not base64***"})
        bad = await rt.wait_for("error", count=2)
        assert bad["error"]["param"] == "audio"
        await rt.send({"type": "input_audio_buffer.commit"})
        assert (await rt.wait_for("error", count=3))["error"]["code"] == "unsupported_event"
        await rt.send({"type": "response.create"})
        assert (await rt.wait_for("error", count=4))["error"]["code"] == "unsupported_event"
        await rt.send(
            {
                "type": "session.update",
                "session": {
                    "type": "realtime",
                    "audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}},
                },
            }
        )
        assert (await rt.wait_for("error", count=5))["error"][
            "param"
        ] == "session.audio.input.format"
        await rt.send(user_text("Still there?"))
        await rt.send({"type": "response.create"})
        done = await rt.wait_for("response.done")
        assert done["response"]["status"] == "completed"


async def test_response_cancel(server: ServerThread, api_key: str, llm: LLMServer) -> None:
    llm.responder = lambda req: Script(text(LONG_REPLY))
    async with connect(server, api_key) as rt:
        await rt.wait_for("session.created")
        await rt.send({"type": "response.cancel"})
        assert (await rt.wait_for("error"))["error"]["code"] == "response_cancel_not_active"
        await rt.send(user_text("Tell me about Paris."))
        await rt.send({"type": "response.create"})
        await rt.wait_for("response.output_audio.delta")
        await rt.send({"type": "response.create"})
        busy = await rt.wait_for("error", count=2)
        assert busy["error"]["code"] == "conversation_already_has_active_response"
        await rt.send_silence(1.0)
        await rt.send({"type": "response.cancel"})
        done = await rt.wait_for("response.done")
        assert done["response"]["status"] == "cancelled"
        assert done["response"]["status_details"]["reason"] == "client_cancelled"
        n_audio = len(rt.of_type("response.output_audio.delta"))
        await rt.send_silence(1.0)
        assert len(rt.of_type("response.output_audio.delta")) == n_audio  # it stopped
        await rt.send(user_text("Thanks."))
        await rt.send({"type": "response.create"})
        assert (await rt.wait_for("response.done", count=2))["response"]["status"] == "completed"
        one_done_per_created(rt)


async def test_a_backchannel_pauses_the_response_and_it_goes_on_from_the_pause(
    server: ServerThread,
    client: httpx.Client,
    api_key: str,
    llm: LLMServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A voice over the reply (the onset of a word): speech_started at once (clients flush playback), then
    speech_stopped with nothing committed, and the same response goes on from the paused
    position (the flushed audio is sent again first) to one `completed` response.done."""
    llm.responder = lambda req: Script(text(LONG_REPLY))
    pauses = record_pauses(monkeypatch)
    async with connect(server, api_key) as rt:
        sid = (await rt.wait_for("session.created"))["session"]["id"]
        turn = rt.of_type("session.created")[0]["session"]["audio"]["input"]["turn_detection"]
        assert turn["interrupt_response"] is True  # so clients do not cancel on speech
        await rt.send(user_text("Tell me about Paris."))
        await rt.send({"type": "response.create"})
        await rt.wait_for("response.output_audio.delta")
        await rt.send_silence(1.0)  # mid-sentence: the next one's TTS does not starve it
        await rt.send_audio(a_breath_of_voice())
        await rt.send_silence(1.0)
        started = await rt.wait_for("input_audio_buffer.speech_started")
        stopped = await rt.wait_for("input_audio_buffer.speech_stopped", timeout=10)
        assert stopped["item_id"] == started["item_id"]
        done = await rt.wait_for("response.done", timeout=60)
        assert done["response"]["status"] == "completed"
        assert rt.of_type("input_audio_buffer.committed") == []
        assert len(rt.of_type("input_audio_buffer.speech_started")) == 1
        one_done_per_created(rt)
        flush = rt.events.index(started)  # the stream's order: what came before / after
        audio = [
            (n > flush, base64.b64decode(e["delta"]))
            for n, e in enumerate(rt.events)
            if e["type"] == "response.output_audio.delta"
        ]
        before = b"".join(b for late, b in audio if not late)
        first_after = next(b for late, b in audio if late)
        check_resend(pauses, before, first_after)
    history = client.get(f"/v1/conversations/{sid}").json()["history"]
    assert [t["role"] for t in history] == ["user", "assistant"]
    assert history[1]["text"] == LONG_REPLY and history[1]["interrupted"] is False
