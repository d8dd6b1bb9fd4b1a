"""Operator features end to end: a live server with the LLM double, real conversations over
the stream, and receivers started here (real HTTP on 127.0.0.1, allowed by
PARLEY_WEBHOOK_ALLOW) that check every signature."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import webvtt

from parley.client.webhooks import verify
from tests.doubles.llm_server import LLMServer, Script, text, tool_call
from tests.doubles.receiver import Received, Receiver, Reply
from tests.harness import ServerThread, llm_backed_server
from tests.speech import speak
from tests.stream.conftest import new_conversation
from tests.stream_client import StreamClient

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
ALL_EVENTS = ["conversation.started", "conversation.ended", "turn.completed", "tool.failed"]
QUESTION = "What is the weather like in Paris today?"
TIMEOUT_S = 3.0  # a webhook attempt's deadline on this server


@pytest.fixture(scope="module")
def llm() -> Iterator[LLMServer]:
    with LLMServer() as s:
        yield s


@pytest.fixture(autouse=True)
def _reset_llm(llm: LLMServer) -> Iterator[None]:
    llm.reset()
    yield


@pytest.fixture(scope="module")
def server(llm: LLMServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    with llm_backed_server(
        llm.base_url,
        tmp_path_factory.mktemp("operator"),
        webhook_allow="127.0.0.1",
        webhook_backoff_s=0.1,
        webhook_timeout_s=TIMEOUT_S,
        webhook_max_attempts=4,
    ) as srv:
        yield srv


@pytest.fixture
def rx() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def subscribe(client: httpx.Client, rx: Receiver, events: list[str] = ALL_EVENTS) -> dict:  # type: ignore[type-arg]
    r = client.post("/v1/webhooks", json={"url": rx.url(), "events": events})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def events_of(got: list[Received]) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(r.body) for r in got]


async def wait_events(rx: Receiver, kind: str, n: int = 1, timeout: float = 15) -> list[dict]:  # type: ignore[type-arg]
    def done(got: list[Received]) -> bool:
        return sum(e["type"] == kind for e in events_of(got)) >= n

    return events_of(await asyncio.to_thread(rx.wait_for, done, timeout))


async def spoken_exchange(stream: StreamClient) -> None:
    """The question spoken into a fresh stream, until the stored end of the answer."""
    await stream.wait_for("session_started")
    await stream.send_silence(0.3)
    await stream.send_audio(speak(QUESTION))
    await stream.send_silence(1.5)
    await stream.wait_for("turn_end", role="assistant", timeout=30)


async def typed_exchange(stream: StreamClient, text_: str, n: int) -> float:
    """Seconds from a typed user turn to the stored end of the n-th assistant turn."""
    start = time.monotonic()
    await stream.send_json({"type": "inject_user_message", "text": text_})
    await stream.wait_for("turn_end", role="assistant", count=n, timeout=30)
    return time.monotonic() - start


async def test_signed_events_and_the_history_after_a_spoken_exchange(
    server: ServerThread, client: httpx.Client, api_key: str, rx: Receiver
) -> None:
    hook = subscribe(client, rx)
    sid = new_conversation(client)
    stream = await StreamClient.connect(server.ws_url, sid, api_key)
    try:
        await spoken_exchange(stream)
    finally:
        await stream.close()
    assert client.delete(f"/v1/conversations/{sid}").status_code == 200
    events = await wait_events(rx, "conversation.ended")
    readme_verify = readme_snippet("webhook-verify", "python")
    for got in rx.received:  # every delivery is signed with this webhook's secret
        assert readme_verify(hook["secret"], got.headers["parley-signature"], got.body)
        assert not readme_verify(hook["secret"], got.headers["parley-signature"], b"{}")
        assert got.headers["content-type"] == "application/json"
        assert verify(hook["secret"], got.headers["parley-signature"], got.body)
        assert not verify(hook["secret"], got.headers["parley-signature"], got.body + b" ")
        assert not verify("whsec_other", got.headers["parley-signature"], got.body)
        t = int(got.headers["parley-signature"].split(",")[0][2:])
        assert abs(time.time() - t) < 60
        assert not verify(hook["secret"], got.headers["parley-signature"], got.body, now=t + 301)
    mine = [e for e in events if e["data"]["session_id"] == sid]
    kinds = [e["type"] for e in mine]
    assert kinds.count("conversation.started") == 1 and kinds.count("turn.completed") == 2
    assert kinds[0] == "conversation.started" and kinds[-1] == "conversation.ended"
    turns = [e["data"]["turn"] for e in mine if e["type"] == "turn.completed"]
    assert [t["turn_id"] for t in turns] == ["turn_001", "turn_002"]
    ended = mine[-1]
    assert ended["id"].startswith("evt_") and ended["created_at"].endswith("Z")
    data = ended["data"]
    stored = client.get(f"/v1/conversations/{sid}").json()
    assert data["reason"] == "deleted" and data["status"] == "ended"
    assert data["total_turns"] == 2 and data["total_duration_ms"] > 1000
    assert data["history"] == stored["history"]
    assert "weather" in data["history"][0]["text"].lower()
    assert data["history"][1]["text"].startswith("You said:")
    assert {r.headers["parley-event"] for r in rx.received} == set(kinds)


def readme_snippet(marker: str, lang: str) -> Any:
    match = re.search(rf"<!-- {marker} -->\n```{lang}\n(.*?)```", README.read_text(), re.S)
    assert match, f"no {marker} block in the README"
    if lang != "python":
        return match.group(1)
    scope: dict[str, Any] = {}
    exec(match.group(1), scope)  # the receiver's five lines, as pasted
    verify_: Callable[[str, str, bytes], bool] = scope["verify"]
    return verify_


def test_the_readme_operator_commands_run(server: ServerThread, api_key: str, rx: Receiver) -> None:
    script = readme_snippet("operator-curl", "sh").replace(
        "https://crm.example.com/parley", rx.url()
    )
    env = {**os.environ, "KEY": api_key, "API": server.url}
    out = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert '"metadata":{"callSid":"CA42"}' in out.stdout
    assert '"status":"paused"' in out.stdout and '"terminated_sessions":["ses_' in out.stdout
    assert "WEBVTT - ses_" in out.stdout
    assert out.stderr.startswith("whsec_")  # the secret, shown once
    assert '"deleted":true' in out.stdout and '{"error":{' not in out.stdout


async def test_a_failing_receiver_is_retried_with_backoff_and_recorded(
    client: httpx.Client, rx: Receiver
) -> None:
    rx.plan(Reply(500), Reply(503))
    hook = subscribe(client, rx, ["conversation.ended"])
    sid = new_conversation(client)
    client.delete(f"/v1/conversations/{sid}")
    got = await asyncio.to_thread(rx.wait_for, lambda r: len(r) >= 3, 15)
    assert len({r.body for r in got}) == 1  # the same event each time
    assert len({r.headers["parley-delivery"] for r in got}) == 1
    assert all(verify(hook["secret"], r.headers["parley-signature"], r.body) for r in got)
    gaps = [b.at - a.at for a, b in zip(got, got[1:], strict=False)]
    assert gaps[0] >= 0.09 and gaps[1] >= 0.19  # 0.1 s, then doubled
    delivery = await wait_delivery(client, hook["id"], "delivered")
    assert delivery["attempts"] == 3 and delivery["status_code"] == 200
    assert delivery["error"] is None and delivery["event"] == "conversation.ended"
    assert [a["status_code"] for a in delivery["attempt_log"]] == [500, 503, 200]
    assert "HTTP 500" in delivery["attempt_log"][0]["error"]
    await asyncio.sleep(0.5)
    assert len(rx.received) == 3  # nothing more once delivered


async def test_attempts_are_bounded(client: httpx.Client, rx: Receiver) -> None:
    rx.default = Reply(500)
    hook = subscribe(client, rx, ["conversation.ended"])
    client.delete(f"/v1/conversations/{new_conversation(client)}")
    delivery = await wait_delivery(client, hook["id"], "failed")
    assert delivery["attempts"] == 4 and delivery["next_attempt_at"] is None
    await asyncio.sleep(0.5)
    assert len(rx.received) == 4


async def wait_delivery(client: httpx.Client, hook_id: str, status: str) -> dict:  # type: ignore[type-arg]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        page = client.get(f"/v1/webhooks/{hook_id}/deliveries").json()
        if page["data"] and page["data"][0]["status"] == status:
            return page["data"][0]  # type: ignore[no-any-return]
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {status} delivery: {page}")


async def test_a_hanging_receiver_does_not_slow_the_conversation(
    server: ServerThread, client: httpx.Client, api_key: str, rx: Receiver
) -> None:
    sid = new_conversation(client)
    stream = await StreamClient.connect(server.ws_url, sid, api_key)
    try:
        await stream.wait_for("session_started")
        baseline = [await typed_exchange(stream, f"Tell me fact {i}.", i + 1) for i in range(2)]
        rx.default = Reply(200, delay=60)  # never answers in time
        hook = subscribe(client, rx, ["turn.completed"])
        hung = [await typed_exchange(stream, f"Tell me fact {i}.", i + 1) for i in range(2, 5)]
        # the receiver was called (and hung) for the turns meanwhile
        assert len(rx.received) >= 4
    finally:
        await stream.close()
    # a design that waited on the receiver would add TIMEOUT_S to every stored turn
    # (2 stored turns per exchange: +6 s); the margin is for a loaded machine
    assert max(hung) < max(baseline) + 2.0, (baseline, hung)
    delivery = client.get(f"/v1/webhooks/{hook['id']}/deliveries").json()["data"][-1]
    deadline = time.monotonic() + TIMEOUT_S + 5
    while delivery["attempts"] == 0 and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        delivery = client.get(f"/v1/webhooks/{hook['id']}/deliveries").json()["data"][-1]
    assert delivery["attempt_log"][0]["error"] == f"no answer within {TIMEOUT_S:g} s"
    assert delivery["attempt_log"][0]["duration_ms"] >= TIMEOUT_S * 1000 - 50


async def test_tool_failures_are_posted(
    server: ServerThread, client: httpx.Client, api_key: str, llm: LLMServer, rx: Receiver
) -> None:
    llm.queue(
        Script(tool_call("lookup_order", {"order_id": "A42"}, id="call_f")),
        Script(text("Sorry, I could not look that up.")),
    )
    subscribe(client, rx, ["tool.failed"])
    lookup = {
        "name": "lookup_order",
        "description": "Look up an order by its ID",
        "parameters": {"order_id": {"type": "string", "required": True}},
    }
    sid = new_conversation(client, tools=[lookup])
    stream = await StreamClient.connect(server.ws_url, sid, api_key)
    try:
        await stream.wait_for("session_started")
        await stream.send_json({"type": "inject_user_message", "text": "Where is A42?"})
        await stream.wait_for("tool_call")
        await stream.send_json(
            {"type": "tool_result", "call_id": "call_f", "error": "the order database is down"}
        )
        await stream.wait_for("turn_end", role="assistant", timeout=30)
    finally:
        await stream.close()
    (event,) = await wait_events(rx, "tool.failed")
    assert event["data"] == {
        "session_id": sid,
        "agent_id": None,
        "turn_id": "turn_002",
        "call_id": "call_f",
        "name": "lookup_order",
        "arguments": {"order_id": "A42"},
        "error": "the order database is down",
    }


def seconds(clock: str) -> float:
    h, m, s = clock.split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


async def test_transcript_in_text_and_webvtt(
    server: ServerThread, client: httpx.Client, api_key: str
) -> None:
    sid = new_conversation(client)
    stream = await StreamClient.connect(server.ws_url, sid, api_key)
    try:
        await spoken_exchange(stream)
        await typed_exchange(stream, "Thanks <and> bye & good night.", 2)
    finally:
        await stream.close()
    history = client.get(f"/v1/conversations/{sid}").json()["history"]
    r = client.get(f"/v1/conversations/{sid}/transcript", params={"format": "vtt"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/vtt")
    captions = list(webvtt.from_string(r.text))
    assert [c.identifier for c in captions] == [t["turn_id"] for t in history]
    assert [c.voice for c in captions] == ["User", "Assistant", "User", "Assistant"]
    assert captions[0].text == history[0]["text"]
    assert captions[3].text.startswith("You said:")
    assert "&lt;and&gt;" in captions[2].raw_text  # escaped, parsed back by players
    secs = [(seconds(c.start), seconds(c.end)) for c in captions]
    assert 0 < secs[0][0] < 3.0  # from the first connection to the speech start
    assert secs[0][1] - secs[0][0] == pytest.approx(history[0]["duration_ms"] / 1000, abs=0.01)
    assert secs[1][1] - secs[1][0] == pytest.approx(history[1]["duration_ms"] / 1000, abs=0.01)
    assert secs[0][1] <= secs[1][0] + 0.05  # the answer starts after the question ends
    assert all(a[0] <= b[0] for a, b in zip(secs, secs[1:], strict=False))
    txt = client.get(f"/v1/conversations/{sid}/transcript")
    assert txt.headers["content-type"].startswith("text/plain")
    lines = txt.text.splitlines()
    assert lines[0].startswith(f"Conversation {sid}") and "4 turns" in lines[0]
    assert lines[2].startswith("[00:00:0") and f"] User: {history[0]['text']}" in lines[2]
    assert f"Assistant: {history[1]['text']}" in lines[3]
    for params, param in (({"format": "srt"}, "format"), ({"format": ""}, "format")):
        bad = client.get(f"/v1/conversations/{sid}/transcript", params=params)
        assert bad.status_code == 400 and bad.json()["error"]["param"] == param
    assert client.get("/v1/conversations/conv_nonexistent0/transcript").status_code == 404


async def test_a_live_session_keeps_its_persona_when_the_agent_is_edited(
    server: ServerThread, client: httpx.Client, api_key: str, llm: LLMServer
) -> None:
    agent = client.post(
        "/v1/agents/create",
        json={
            "name": "Support",
            "voice_id": "espeak-en-us-female",
            "system_prompt": "You are the old persona.",
        },
    ).json()
    sid = client.post(f"/v1/agents/{agent['id']}/sessions").json()["session_id"]
    stream = await StreamClient.connect(server.ws_url, sid, api_key)
    try:
        await stream.wait_for("session_started")
        r = client.patch(
            f"/v1/agents/{agent['id']}", json={"system_prompt": "You are the new persona."}
        )
        assert r.status_code == 200
        await typed_exchange(stream, "Who are you?", 1)
    finally:
        await stream.close()
    system = llm.chat_requests[-1].body["messages"][0]
    assert system["role"] == "system" and "old persona" in system["content"]
    new = client.post(f"/v1/agents/{agent['id']}/sessions").json()["session_id"]
    assert client.get(f"/v1/conversations/{new}").json()["system_prompt"] == (
        "You are the new persona."
    )


async def test_the_example_receiver(
    server: ServerThread, client: httpx.Client, api_key: str
) -> None:
    env = {**os.environ, "PARLEY_BASE_URL": server.url, "PARLEY_API_KEY": api_key}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "examples" / "webhook_receiver.py"),
        "--port",
        "0",
        "--once",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
    assert line.startswith("listening on http://127.0.0.1:"), line
    sid = new_conversation(client)
    stream = await StreamClient.connect(server.ws_url, sid, api_key)
    try:
        await stream.wait_for("session_started")
        await typed_exchange(stream, "Hello there.", 1)
    finally:
        await stream.close()
    client.delete(f"/v1/conversations/{sid}")
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    assert f"conversation.started {sid}" in lines and f"conversation.ended {sid}" in lines
    assert "  reason=deleted turns=2" in lines and "  user: Hello there." in lines
    assert client.get("/v1/webhooks").json()["total"] == 0  # it cleaned up
