"""Webhook tools cannot reach internal addresses, their header secrets are write-only,
their header values are checked at create time (issue 12, critical and high findings)."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import time

import httpx
import pytest

from parley.engine.tools import ToolCalls, ToolRunner, ToolSettings, WebhookClient, WebhookLimits
from parley.net.outbound import OutboundPolicy
from parley.providers.llm.base import ToolCall
from parley.store import Store
from parley.store.records import ToolDef
from tests.doubles.llm_server import LLMServer, Script, text, tool_call
from tests.harness import ServerThread, run_async
from tests.net.webserver import WebServer
from tests.stream_client import StreamClient

TOOL = {"name": "lookup", "description": "Look it up", "parameters": {}}


def create(client: httpx.Client, tools: list[dict[str, object]]) -> httpx.Response:
    return client.post(
        "/v1/conversations/create",
        json={"voice_id": "espeak-en-us-female", "system_prompt": "Hi.", "tools": tools},
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/x",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://10.0.0.7/",
        "http://[::ffff:169.254.169.254]/",
        "http://localhost:9/",
        "http://user:pw@tools.example/",
    ],
)
def test_internal_endpoints_are_refused_at_create(client: httpx.Client, url: str) -> None:
    r = create(client, [{**TOOL, "endpoint": {"url": url}}])
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == "tools"


@pytest.mark.parametrize(
    "headers",
    [
        {"X-A": "v\r\nX-Injected: 1"},
        {"X-A": "caf\u00e9"},
        {"X A": "v"},
        {"X-A:": "v"},
        {"Host": "internal"},
        {"Content-Length": "5"},
        {"X-A": "x" * 5000},
    ],
)
def test_bad_header_values_are_refused_at_create(
    client: httpx.Client, headers: dict[str, str]
) -> None:
    r = create(
        client, [{**TOOL, "endpoint": {"url": "https://tools.example/", "headers": headers}}]
    )
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == "tools"


def test_header_secrets_are_write_only_and_stored_encrypted(
    server: ServerThread, client: httpx.Client
) -> None:
    endpoint = {"url": "https://tools.example/x", "headers": {"Authorization": "Bearer s3cr3t"}}
    r = create(client, [{**TOOL, "endpoint": endpoint}])
    assert r.status_code == 200, r.text
    sid = r.json()["session_id"]
    got = client.get(f"/v1/conversations/{sid}").json()["tools"][0]["endpoint"]
    assert got["headers"] == {"Authorization": "***"}
    agent = client.post(
        "/v1/agents/create",
        json={
            "name": "A",
            "voice_id": "espeak-en-us-female",
            "system_prompt": "Hi.",
            "tools": [{**TOOL, "endpoint": endpoint}],
        },
    ).json()
    assert agent["tools"][0]["endpoint"]["headers"] == {"Authorization": "***"}
    assert "s3cr3t" not in client.get(f"/v1/agents/{agent['id']}").text
    db = server.settings.resolved_database_url().split("///", 1)[1]
    with sqlite3.connect(db) as conn:
        stored = " ".join(str(r) for r in conn.execute("SELECT tools FROM conversations"))
        stored += " ".join(str(r) for r in conn.execute("SELECT tools FROM agents"))
    assert "s3cr3t" not in stored and "fernet:" in stored


def _stored_conversation(server: ServerThread, key_account: str, url: str) -> str:
    """A conversation whose tool points at `url`, as a database from before the fix holds."""

    async def make() -> str:
        store = await Store.open(server.settings.resolved_database_url())
        try:
            rec = await store.conversations.create(
                account_id=key_account,
                voice_id="espeak-en-us-female",
                system_prompt="Hi.",
                language="en",
                context_window=10,
                max_turns=None,
                tools=[
                    ToolDef(
                        "lookup",
                        "",
                        {"type": "object", "properties": {}},
                        {"url": url, "method": "POST", "headers": {}},
                    )
                ],
            )
            return rec.id
        finally:
            await store.close()

    return run_async(make)


def _account(server: ServerThread, key: str) -> str:
    async def find() -> str:
        store = await Store.open(server.settings.resolved_database_url())
        try:
            account = await store.keys.authenticate(key)
            assert account is not None
            return account
        finally:
            await store.close()

    return run_async(find)


def _loopback_names() -> list[str]:
    names = []
    try:
        if socket.gethostbyname(socket.gethostname()).startswith("127."):
            names.append(socket.gethostname())
    except OSError:
        pass
    return names


@pytest.mark.parametrize("host", ["127.0.0.1", *_loopback_names()])
async def test_a_stored_internal_webhook_is_not_called_at_reply_time(
    server: ServerThread,
    client: httpx.Client,
    api_key: str,
    llm: LLMServer,
    internal: WebServer,
    host: str,
) -> None:
    sid = _stored_conversation(server, _account(server, api_key), f"http://{host}:{internal.port}/")
    llm.queue(Script(tool_call("lookup", {}, id="c1")), Script(text("Sorry, I could not.")))
    stream = await StreamClient.connect(server.ws_url, sid, api_key)
    try:
        await stream.wait_for("session_started")
        await stream.send_json({"type": "inject_user_message", "text": "Read it."})
        await stream.wait_for("turn_end", role="assistant", timeout=30)
    finally:
        await stream.close()
    assert internal.requests == []
    history = client.get(f"/v1/conversations/{sid}").json()["history"]
    call = history[-1]["metadata"]["tool_calls"][0]
    assert "s3cr3t" not in str(history) and "PARLEY_WEBHOOK_ALLOW" in call["error"]


async def test_webhook_calls_keep_to_the_session_and_round_limits() -> None:
    web = WebServer()
    inflight = [0, 0]  # now, most
    original = web.server.RequestHandlerClass.do_POST  # type: ignore[attr-defined]

    def slow(handler: object) -> None:
        inflight[0] += 1
        inflight[1] = max(inflight[1], inflight[0])
        time.sleep(0.15)
        inflight[0] -= 1
        original(handler)

    web.server.RequestHandlerClass.do_POST = slow  # type: ignore[attr-defined]
    limits = WebhookLimits(session_concurrency=2, max_calls_per_round=5)
    http = WebhookClient(OutboundPolicy(["127.0.0.1"]), limits)
    tool = ToolDef("hook", "", {}, {"url": web.url + "/", "method": "POST", "headers": {}})

    async def announce(call: ToolCall, arguments: object) -> None:
        raise AssertionError("no client-side call here")

    async def hold() -> None:
        return None

    runner = ToolRunner({"hook": tool}, ToolCalls(), http, announce, ToolSettings(hold_after_s=5))
    calls = [ToolCall(f"c{i}", "hook", "{}") for i in range(7)]
    try:
        outcomes = await asyncio.wait_for(runner.run(calls, hold), 10)
    finally:
        await http.aclose()
        web.close()
    assert [o.error is None for o in outcomes] == [True] * 5 + [False] * 2
    assert "at most 5" in str(outcomes[6].error)
    assert inflight[1] == 2 and len(web.requests) == 5


async def test_a_huge_webhook_answer_is_an_error_not_a_context() -> None:
    web = WebServer()
    web.answer = (200, {}, b"x" * (3 * 1024 * 1024))
    http = WebhookClient(OutboundPolicy(["127.0.0.1"]), WebhookLimits(max_bytes=100_000))
    tool = ToolDef("hook", "", {}, {"url": web.url + "/", "method": "POST", "headers": {}})

    async def announce(call: ToolCall, arguments: object) -> None:
        return None

    async def hold() -> None:
        return None

    runner = ToolRunner({"hook": tool}, ToolCalls(), http, announce, ToolSettings())
    try:
        (outcome,) = await runner.run([ToolCall("c", "hook", "{}")], hold)
    finally:
        await http.aclose()
        web.close()
    assert outcome.result is None and "larger than 100000" in str(outcome.error)
