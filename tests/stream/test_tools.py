"""Tool calling over a real socket, with an LLM double that streams real tool-call chunks."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from tests.doubles.llm_server import LLMServer, Script, text, tool_call
from tests.harness import ServerThread
from tests.speech import speak
from tests.stream.conftest import new_conversation
from tests.stream_client import StreamClient

LOOKUP = {
    "name": "lookup_order",
    "description": "Look up an order by its ID",
    "parameters": {"order_id": {"type": "string", "required": True}},
}


class Webhook:
    """A real local HTTP server playing a tool's endpoint."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests.append(
                    {"path": self.path, "json": json.loads(body), "auth": self.headers.get("X-Key")}
                )
                reply = json.dumps({"status": "shipped", "eta": "Tuesday"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/orders"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.close()


async def talk(server: ServerThread, sid: str, key: str) -> StreamClient:
    stream = await StreamClient.connect(server.ws_url, sid, key)
    await stream.wait_for("session_started")
    return stream


async def test_client_side_tool_round_trip(
    server: ServerThread, client: httpx.Client, api_key: str, llm: LLMServer
) -> None:
    llm.queue(
        Script(tool_call("lookup_order", {"order_id": "A42"}, id="call_1")),
        Script(text("Your order A42 has shipped.")),
    )
    sid = new_conversation(client, tools=[LOOKUP])
    stream = await talk(server, sid, api_key)
    try:
        await stream.send_json({"type": "inject_user_message", "text": "Where is order A42?"})
        call = await stream.wait_for("tool_call")
        assert call == {
            "type": "tool_call",
            "call_id": "call_1",
            "name": "lookup_order",
            "arguments": {"order_id": "A42"},
        }
        # the user turn was announced before the tool call
        assert stream.of_type("turn_end", role="user")
        await stream.send_json(
            {"type": "tool_result", "call_id": "call_1", "result": {"status": "shipped"}}
        )
        end = await stream.wait_for("turn_end", role="assistant", timeout=30)
    finally:
        await stream.close()
    first, second = llm.chat_requests[-2].body, llm.chat_requests[-1].body
    assert first["tools"][0]["function"]["name"] == "lookup_order"
    assert first["tools"][0]["function"]["parameters"]["required"] == ["order_id"]
    assistant, tool = second["messages"][-2], second["messages"][-1]
    assert assistant["tool_calls"][0]["id"] == "call_1"
    assert tool == {"role": "tool", "tool_call_id": "call_1", "content": '{"status": "shipped"}'}
    history = client.get(f"/v1/conversations/{sid}").json()["history"]
    reply = history[-1]
    assert reply["turn_id"] == end["turn_id"] and reply["text"] == "Your order A42 has shipped."
    assert reply["metadata"]["tool_calls"] == [
        {
            "call_id": "call_1",
            "name": "lookup_order",
            "arguments": {"order_id": "A42"},
            "result": {"status": "shipped"},
        }
    ]


async def test_server_side_tool_calls_the_webhook(
    server: ServerThread, client: httpx.Client, api_key: str, llm: LLMServer, webhook: Webhook
) -> None:
    llm.queue(
        Script(tool_call("lookup_order", {"order_id": "B7"}, id="call_w")),
        Script(text("It ships Tuesday.")),
    )
    tool = {**LOOKUP, "endpoint": {"url": webhook.url, "headers": {"X-Key": "secret"}}}
    sid = new_conversation(client, tools=[tool])
    stream = await talk(server, sid, api_key)
    try:
        await stream.send_json({"type": "inject_user_message", "text": "Where is order B7?"})
        await stream.wait_for("turn_end", role="assistant", timeout=30)
        assert stream.of_type("tool_call") == []  # no client involvement
    finally:
        await stream.close()
    assert webhook.requests == [{"path": "/orders", "json": {"order_id": "B7"}, "auth": "secret"}]
    tool_msg = llm.chat_requests[-1].body["messages"][-1]
    assert json.loads(tool_msg["content"]) == {"status": "shipped", "eta": "Tuesday"}


async def test_parallel_calls_and_results_in_any_order(
    server: ServerThread, client: httpx.Client, api_key: str, llm: LLMServer
) -> None:
    llm.queue(
        Script(
            tool_call("lookup_order", {"order_id": "1"}, id="c1"),
            tool_call("lookup_order", {"order_id": "2"}, id="c2"),
        ),
        Script(text("Both found.")),
    )
    sid = new_conversation(client, tools=[LOOKUP])
    stream = await talk(server, sid, api_key)
    try:
        await stream.send_json({"type": "inject_user_message", "text": "Orders 1 and 2?"})
        await stream.wait_for("tool_call", count=2)
        await stream.send_json({"type": "tool_result", "call_id": "c2", "result": "two"})
        await stream.send_json({"type": "tool_result", "call_id": "c1", "result": "one"})
        await stream.wait_for("turn_end", role="assistant", timeout=30)
    finally:
        await stream.close()
    messages = llm.chat_requests[-1].body["messages"]
    assert [m["tool_call_id"] for m in messages[-2:]] == ["c1", "c2"]
    assert [m["content"] for m in messages[-2:]] == ['"one"', '"two"']


async def test_slow_tool_gets_a_hold_line(
    server: ServerThread, client: httpx.Client, api_key: str, llm: LLMServer
) -> None:
    llm.queue(
        Script(tool_call("lookup_order", {"order_id": "9"}, id="slow")), Script(text("Found it."))
    )
    sid = new_conversation(client, tools=[LOOKUP], settings={"tool_hold_ms": 300})
    stream = await talk(server, sid, api_key)
    try:
        await stream.send_json({"type": "inject_user_message", "text": "Order 9?"})
        await stream.wait_for("tool_call")
        hold = await stream.wait_for("transcript", role="assistant", is_final=False, timeout=10)
        assert hold["text"] == "One moment while I look that up."
        # The line is not silent: the hold line's audio plays while the tool is still
        # pending (the first round said nothing, so all audio so far is the hold line).
        # Paced in real time, it arrives over ~2 s: wait for it rather than sleeping.
        await stream.wait_until(
            lambda: stream.audio_seconds() > 0.5, "0.5 s of hold-line audio", timeout=10
        )
        assert stream.of_type("turn_end", role="assistant") == []
        await stream.send_json({"type": "tool_result", "call_id": "slow", "result": "ok"})
        await stream.wait_for("turn_end", role="assistant", timeout=30)
        final = stream.of_type("transcript", role="assistant", is_final=True)[-1]
        assert final["text"] == "One moment while I look that up. Found it."
    finally:
        await stream.close()


async def test_tool_timeout_error_and_late_or_unknown_results(
    server: ServerThread, client: httpx.Client, api_key: str, llm: LLMServer
) -> None:
    llm.queue(
        Script(
            tool_call("lookup_order", {"order_id": "1"}, id="t1"),
            tool_call("lookup_order", {"order_id": "2"}, id="t2"),
        ),
        Script(text("Sorry, I could not look that up.")),
    )
    sid = new_conversation(
        client, tools=[LOOKUP], settings={"tool_timeout_ms": 600, "tool_hold_ms": 5000}
    )
    stream = await talk(server, sid, api_key)
    try:
        await stream.send_json({"type": "inject_user_message", "text": "Orders?"})
        await stream.wait_for("tool_call", count=2)
        await stream.send_json({"type": "tool_result", "call_id": "t2", "error": "database down"})
        # t1 never answered: it times out
        await stream.wait_for("turn_end", role="assistant", timeout=30)
        await stream.send_json({"type": "tool_result", "call_id": "t1", "result": "late"})
        await stream.send_json({"type": "tool_result", "call_id": "nope", "result": 1})
        errors = [await stream.wait_for("error", count=i) for i in (1, 2)]
        assert [e["code"] for e in errors] == ["unknown_call_id", "unknown_call_id"]
    finally:
        await stream.close()
    tools = llm.chat_requests[-1].body["messages"][-2:]
    assert "did not answer" in json.loads(tools[0]["content"])["error"]
    assert json.loads(tools[1]["content"]) == {"error": "database down"}


async def test_round_limit_makes_the_model_answer(
    server: ServerThread, client: httpx.Client, api_key: str, llm: LLMServer, webhook: Webhook
) -> None:
    llm.responder = lambda req: (
        Script(tool_call("lookup_order", {"order_id": "x"})) if req.tools else Script(text("Done."))
    )
    tool = {**LOOKUP, "endpoint": {"url": webhook.url}}
    sid = new_conversation(client, tools=[tool], settings={"max_tool_rounds": 2})
    stream = await talk(server, sid, api_key)
    try:
        await stream.send_json({"type": "inject_user_message", "text": "Loop forever."})
        await stream.wait_for("turn_end", role="assistant", timeout=30)
    finally:
        await stream.close()
    assert len(webhook.requests) == 2
    assert "tools" not in llm.chat_requests[-1].body


async def test_barge_in_cancels_a_tool_call(
    server: ServerThread, client: httpx.Client, api_key: str, llm: LLMServer
) -> None:
    llm.queue(Script(tool_call("lookup_order", {"order_id": "1"}, id="cut")))
    sid = new_conversation(client, tools=[LOOKUP], settings={"tool_hold_ms": 60000})
    stream = await talk(server, sid, api_key)
    try:
        await stream.send_json({"type": "inject_user_message", "text": "Order 1?"})
        await stream.wait_for("tool_call")
        await stream.send_silence(0.3)
        await stream.send_audio(speak("Please stop talking now."))
        await stream.send_silence(1.0)
        await stream.wait_for("turn_start", role="user", count=2)
        await stream.send_json({"type": "tool_result", "call_id": "cut", "result": "late"})
        err = await stream.wait_for("error")
        assert err["code"] == "unknown_call_id"
        await stream.wait_for("turn_end", role="assistant", timeout=30)
    finally:
        await stream.close()


async def test_live_prompt_and_voice_updates(
    server: ServerThread, client: httpx.Client, api_key: str, llm: LLMServer
) -> None:
    sid = new_conversation(client)
    stream = await talk(server, sid, api_key)
    try:
        await stream.send_json({"type": "update_prompt", "prompt": "You are a pirate."})
        ack = await stream.wait_for("prompt_updated")
        assert ack["prompt"] == "You are a pirate."
        await stream.send_json({"type": "update_voice", "voice_id": "espeak-en-gb-male"})
        assert (await stream.wait_for("voice_updated"))["voice_id"] == "espeak-en-gb-male"
        await stream.send_json({"type": "update_voice", "voice_id": "nadia_v2"})
        assert (await stream.wait_for("error"))["code"] == "unknown_voice"
        await stream.send_json({"type": "inject_user_message", "text": "Hello."})
        await stream.wait_for("turn_end", role="assistant", timeout=30)
    finally:
        await stream.close()
    system = llm.chat_requests[-1].body["messages"][0]["content"]
    assert system.startswith("You are a pirate.")
    body = client.get(f"/v1/conversations/{sid}").json()
    assert body["system_prompt"] == "You are a pirate."
    assert body["voice_id"] == "espeak-en-gb-male"


async def test_agent_message_injection_and_refusal(
    server: ServerThread, client: httpx.Client, api_key: str, llm: LLMServer
) -> None:
    llm.responder = lambda req: Script(text("This is a long answer. It goes on. And on. And on."))
    sid = new_conversation(client)
    stream = await talk(server, sid, api_key)
    try:
        await stream.send_json({"type": "inject_agent_message", "text": "Welcome back!"})
        await stream.wait_for("agent_message_injected")
        end = await stream.wait_for("turn_end", role="assistant", timeout=20)
        assert end["turn_id"] == "turn_001"
        await stream.send_json({"type": "inject_user_message", "text": "Talk to me."})
        await stream.wait_for("turn_start", role="assistant", count=2)
        await stream.send_json({"type": "inject_agent_message", "text": "Interjection!"})
        refused = await stream.wait_for("error")
        assert refused["code"] == "injection_refused"
        await stream.wait_for("turn_end", role="assistant", count=2, timeout=30)
    finally:
        await stream.close()
    history = client.get(f"/v1/conversations/{sid}").json()["history"]
    assert history[0]["role"] == "assistant" and history[0]["text"] == "Welcome back!"
    assert all("Interjection" not in t["text"] for t in history)


async def test_agent_session_greets_first_and_inherits_the_persona(
    server: ServerThread, client: httpx.Client, api_key: str, llm: LLMServer
) -> None:
    agent = client.post(
        "/v1/agents/create",
        json={
            "name": "Concierge",
            "voice_id": "espeak-en-gb-female",
            "system_prompt": "You are the hotel concierge.",
            "tools": [LOOKUP],
        },
    ).json()
    session = client.post(
        f"/v1/agents/{agent['id']}/sessions",
        json={
            "metadata": {"room": 12},
            "initial_message": "Good evening, how may I help?",
        },
    ).json()
    stream = await talk(server, session["session_id"], api_key)
    try:
        first = await stream.wait_for("turn_start")
        assert first["role"] == "assistant"
        greeting = await stream.wait_for("transcript", role="assistant", is_final=True)
        assert greeting["text"] == "Good evening, how may I help?"
        await stream.send_json({"type": "inject_user_message", "text": "A taxi, please."})
        await stream.wait_for("turn_end", role="assistant", count=2, timeout=30)
    finally:
        await stream.close()
    body = llm.chat_requests[-1].body
    assert body["messages"][0]["content"].startswith("You are the hotel concierge.")
    assert body["messages"][1] == {"role": "assistant", "content": "Good evening, how may I help?"}
    assert body["tools"][0]["function"]["name"] == "lookup_order"
    history = client.get(f"/v1/conversations/{session['session_id']}").json()
    assert history["history"][0]["turn_id"] == "turn_001"
    assert history["history"][0]["role"] == "assistant"
    assert history["metadata"] == {"room": 12}
    # reconnecting does not greet again
    again = await talk(server, session["session_id"], api_key)
    await asyncio.sleep(0.5)
    assert again.of_type("turn_start") == []
    await again.close()
