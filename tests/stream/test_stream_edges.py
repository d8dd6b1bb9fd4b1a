"""The stream's edges: refused upgrades, auth forms, takeover, DELETE, bad input, LLM failures."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from tests.doubles.llm_server import LLMServer, Script, error, stall, text
from tests.harness import ServerThread
from tests.speech import silence
from tests.stream.conftest import new_conversation
from tests.stream_client import StreamClient


class Refusal:
    def __init__(self, status_code: int, body: bytes) -> None:
        self.status_code = status_code
        self.body = body

    def json(self) -> dict:  # type: ignore[type-arg]
        return json.loads(self.body)  # type: ignore[no-any-return]


async def refused(url: str, headers: dict[str, str] | None = None) -> Refusal:
    with pytest.raises(InvalidStatus) as info:
        async with websockets.connect(url, additional_headers=headers or {}):
            pass
    response = info.value.response
    return Refusal(response.status_code, bytes(response.body or b""))


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("sample_rate=44100", "sample_rate"),
        ("sample_rate=abc", "sample_rate"),
        ("encoding=mp3", "encoding"),
        ("vad_threshold=1.5", "vad_threshold"),
        ("vad_threshold=-0.1", "vad_threshold"),
        ("vad_threshold=loud", "vad_threshold"),
        ("last_turn_id=7", "last_turn_id"),
    ],
)
async def test_bad_parameters_are_refused_before_the_upgrade(
    server: ServerThread, client: httpx.Client, api_key: str, query: str, param: str
) -> None:
    sid = new_conversation(client)
    r = await refused(
        f"{server.ws_url}/v1/conversations/{sid}/stream?{query}",
        {"Authorization": f"Bearer {api_key}"},
    )
    assert r.status_code == 400
    assert r.json()["error"]["param"] == param


async def test_auth_forms_and_refusals(
    server: ServerThread, client: httpx.Client, api_key: str
) -> None:
    sid = new_conversation(client)
    url = f"{server.ws_url}/v1/conversations/{sid}/stream"
    assert (await refused(url)).status_code == 401
    assert (await refused(url, {"Authorization": "Bearer nope"})).status_code == 401
    other = server.new_key("other")
    assert (await refused(url, {"Authorization": f"Bearer {other}"})).status_code == 404
    unknown = f"{server.ws_url}/v1/conversations/conv_000000000000/stream"
    assert (await refused(unknown, {"Authorization": f"Bearer {api_key}"})).status_code == 404
    # browsers: ?token= and the subprotocol
    async with websockets.connect(f"{url}?token={api_key}") as ws:
        assert json.loads(await ws.recv())["type"] == "session_started"
    async with websockets.connect(url, subprotocols=["parley", f"token.{api_key}"]) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "parley"
        assert json.loads(await ws.recv())["type"] == "session_started"
    assert client.get(f"/v1/conversations/{sid}").json()["status"] == "active"
    client.delete(f"/v1/conversations/{sid}")
    r = await refused(url, {"Authorization": f"Bearer {api_key}"})
    assert r.status_code == 410 and "ended" in r.json()["error"]["message"]


async def test_second_connection_takes_over(
    server: ServerThread, client: httpx.Client, api_key: str
) -> None:
    sid = new_conversation(client)
    first = await StreamClient.connect(server.ws_url, sid, api_key)
    await first.wait_for("session_started")
    second = await StreamClient.connect(server.ws_url, sid, api_key)
    await second.wait_for("session_started")
    code, reason = await first.wait_closed()
    assert code == 4409 and "newer connection" in (reason or "")
    await second.send_json({"type": "inject_user_message", "text": "Still there?"})
    await second.wait_for("turn_end", role="assistant", timeout=30)
    await second.close()


async def test_delete_closes_the_stream_at_once(
    server: ServerThread, client: httpx.Client, api_key: str, llm: LLMServer
) -> None:
    llm.responder = lambda req: Script(text("One. Two. Three. Four. Five. Six. Seven. Eight."))
    sid = new_conversation(client)
    stream = await StreamClient.connect(server.ws_url, sid, api_key)
    await stream.wait_for("session_started")
    await stream.send_json({"type": "inject_user_message", "text": "Count."})
    await stream.wait_for("turn_start", role="assistant")
    r = await asyncio.to_thread(client.delete, f"/v1/conversations/{sid}")
    assert r.status_code == 200
    code, reason = await stream.wait_closed(timeout=3)
    assert code == 4000 and "deleted" in (reason or "")
    history = client.get(f"/v1/conversations/{sid}").json()["history"]
    assert [t["role"] for t in history] == ["user", "assistant"]
    assert history[1]["interrupted"] is True


async def test_bad_messages_get_errors_and_the_session_goes_on(
    server: ServerThread, client: httpx.Client, api_key: str
) -> None:
    sid = new_conversation(client)
    stream = await StreamClient.connect(server.ws_url, sid, api_key)
    try:
        await stream.wait_for("session_started")
        await stream.ws.send("not json")
        await stream.ws.send(json.dumps([1, 2]))
        await stream.ws.send(json.dumps({"type": "fly_to_the_moon"}))
        await stream.ws.send(json.dumps({"type": "inject_user_message", "text": ""}))
        await stream.ws.send(json.dumps({"type": "inject_user_message", "text": 42}))
        await stream.ws.send(b"\x01\x02\x03")  # odd-length pcm16
        await stream.send_json({"type": "keep_alive"})
        errors = [await stream.wait_for("error", count=i) for i in range(1, 7)]
        codes = [e["code"] for e in errors]
        assert codes.count("invalid_message") == 4
        assert "unknown_message_type" in codes and "invalid_audio" in codes
        assert all(e["message"] for e in errors)
        await stream.send_json({"type": "inject_user_message", "text": "Are you alive?"})
        await stream.wait_for("turn_end", role="assistant", timeout=30)
    finally:
        await stream.close()


@pytest.mark.parametrize(
    ("script", "code"),
    [
        (Script(error(500, "model crashed")), "llm_error"),
        (Script(stall()), "llm_timeout"),
    ],
)
async def test_llm_failures_become_error_events(
    server: ServerThread,
    client: httpx.Client,
    api_key: str,
    llm: LLMServer,
    script: Script,
    code: str,
) -> None:
    llm.queue(script)
    sid = new_conversation(client)
    stream = await StreamClient.connect(server.ws_url, sid, api_key)
    try:
        await stream.wait_for("session_started")
        await stream.send_json({"type": "inject_user_message", "text": "Hello?"})
        asked = time.monotonic()
        err = await stream.wait_for("error", timeout=40)
        assert err["code"] == code
        if code == "llm_timeout":  # the server's setting (4 s), not the default 15 s
            assert 4.0 <= time.monotonic() - asked < 14.0
        # the session is still usable
        await stream.send_json({"type": "inject_user_message", "text": "Hello again?"})
        await stream.wait_for("turn_end", role="assistant", timeout=30)
    finally:
        await stream.close()
    history = client.get(f"/v1/conversations/{sid}").json()["history"]
    assert [t["role"] for t in history] == ["user", "user", "assistant"]


async def test_expired_agent_session_refuses_new_streams(
    server: ServerThread, client: httpx.Client, api_key: str
) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from parley.store import Store
    from parley.store.tables import Conversation
    from parley.timeutil import utcnow

    agent = client.post(
        "/v1/agents/create",
        json={"name": "A", "voice_id": "espeak-en-us-male", "system_prompt": "Hi."},
    ).json()
    sid = client.post(f"/v1/agents/{agent['id']}/sessions").json()["session_id"]
    store = await Store.open(server.settings.resolved_database_url())
    try:
        async with store.engine.begin() as conn:
            await conn.execute(
                update(Conversation)
                .where(Conversation.id == sid)
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )
    finally:
        await store.close()
    r = await refused(
        f"{server.ws_url}/v1/conversations/{sid}/stream", {"Authorization": f"Bearer {api_key}"}
    )
    assert r.status_code == 410 and "expired" in r.json()["error"]["message"]


async def test_stream_tokens_open_one_session_for_a_while(
    server: ServerThread, client: httpx.Client, api_key: str
) -> None:
    sid, other = new_conversation(client), new_conversation(client)
    r = client.post(f"/v1/conversations/{sid}/stream_token")
    assert r.status_code == 200, r.text
    token = r.json()["token"]
    assert token.startswith("pst_") and r.json()["websocket_url"].endswith(f"/{sid}/stream")
    url = f"{server.ws_url}/v1/conversations/{sid}/stream"
    async with websockets.connect(f"{url}?token={token}") as ws:
        started = json.loads(await ws.recv())
        assert started["type"] == "session_started"
    # single use: a reconnection takes the resume_token the first socket was given
    assert (await refused(f"{url}?token={token}")).status_code == 401
    resume = started["resume_token"]
    async with websockets.connect(url, subprotocols=["parley", f"token.{resume}"]) as ws:  # type: ignore[list-item]
        assert json.loads(await ws.recv())["type"] == "session_started"
    # not for another session, and not as an API key
    other_url = f"{server.ws_url}/v1/conversations/{other}/stream?token={token}"
    assert (await refused(other_url)).status_code == 401
    assert (
        httpx.get(
            f"{server.url}/v1/voices", headers={"Authorization": f"Bearer {token}"}
        ).status_code
        == 401
    )
    assert client.post("/v1/conversations/conv_nothing00000/stream_token").status_code == 404


async def test_reconnect_with_last_turn_id_replays_missed_turns(
    server: ServerThread, client: httpx.Client, api_key: str
) -> None:
    sid = new_conversation(client)
    stream = await StreamClient.connect(server.ws_url, sid, api_key)
    await stream.wait_for("session_started")
    for i in range(2):
        await stream.send_json({"type": "inject_user_message", "text": f"Question {i}."})
        await stream.wait_for("turn_end", role="assistant", count=i + 1, timeout=30)
    await stream.close()
    again = await StreamClient.connect(server.ws_url, sid, api_key, last_turn_id="turn_002")
    try:
        started = await again.wait_for("session_started")
        assert started.get("resumed") in (True, None)
        await again.wait_for("turn_end", turn_id="turn_004")
        replayed = [e for e in again.events if e.get("replayed")]
        assert [(e["type"], e["turn_id"]) for e in replayed] == [
            ("transcript", "turn_003"),
            ("turn_end", "turn_003"),
            ("transcript", "turn_004"),
            ("turn_end", "turn_004"),
        ]
        assert replayed[0]["text"] == "Question 1."
        # and the conversation goes on live
        await again.send_json({"type": "inject_user_message", "text": "Question 2."})
        await again.wait_for("turn_end", role="assistant", turn_id="turn_006", timeout=30)
    finally:
        await again.close()


async def test_without_an_llm_the_stream_says_what_to_set(
    tmp_path: Path, client: httpx.Client
) -> None:
    from tests.harness import BOOTSTRAP_KEY, fresh_database_url, server_settings

    settings = server_settings(fresh_database_url("sqlite", tmp_path), tmp_path)
    assert settings.llm_base_url is None
    with ServerThread(settings) as bare:
        auth = {"Authorization": f"Bearer {BOOTSTRAP_KEY}"}
        sid = httpx.post(
            f"{bare.url}/v1/conversations/create",
            headers=auth,
            json={"voice_id": "espeak-en-us-female", "system_prompt": "Hi."},
        ).json()["session_id"]
        stream = await StreamClient.connect(bare.ws_url, sid, BOOTSTRAP_KEY)
        try:
            await stream.wait_for("session_started")
            await stream.send_json({"type": "inject_user_message", "text": "Hello?"})
            err = await stream.wait_for("error", timeout=10)
            assert err["code"] == "llm_not_configured"
            assert "PARLEY_LLM_BASE_URL" in err["message"]
        finally:
            await stream.close()


async def test_a_session_nobody_talks_in_ends_idle(
    server: ServerThread, client: httpx.Client, api_key: str
) -> None:
    """`settings.idle_timeout_s`: silence (or nothing at all) for that long ends the session
    with reason "idle"; the socket closes normally and the history is kept."""
    sid = new_conversation(client, settings={"idle_timeout_s": 5})
    stream = await StreamClient.connect(server.ws_url, sid, api_key)
    await stream.wait_for("session_started")
    await stream.send_json({"type": "inject_user_message", "text": "Hello there."})
    await stream.wait_for("turn_end", role="assistant", timeout=30)
    answered = time.monotonic()
    await stream.send_audio(silence(2.0))  # silence is not activity
    ended = await stream.wait_for("session_ended", timeout=15)
    assert ended["reason"] == "idle" and time.monotonic() - answered >= 4.5
    code, reason = await stream.wait_closed()
    assert code == 1000 and "idle" in (reason or "")
    body = client.get(f"/v1/conversations/{sid}").json()
    assert body["status"] == "ended" and [t["role"] for t in body["history"]] == [
        "user",
        "assistant",
    ]
