"""`/v1/conversations/*` over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx

from tests.harness import ServerThread

VOICE = "espeak-en-us-female"
CONV_ID = re.compile(r"^conv_[a-z0-9]{12}$")
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def create(client: httpx.Client, **fields: object) -> httpx.Response:
    body = {"voice_id": VOICE, "system_prompt": "You are a friendly travel assistant."}
    body.update(fields)
    return client.post("/v1/conversations/create", json=body)


def test_create_returns_the_seed_shape(client: httpx.Client) -> None:
    r = create(client, language="en")
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {
        "session_id",
        "status",
        "voice_id",
        "language",
        "context_window",
        "max_turns",
        "tools",
        "created_at",
        "websocket_url",
    }
    assert CONV_ID.match(body["session_id"])
    assert body["status"] == "ready"
    assert body["voice_id"] == VOICE
    assert body["language"] == "en"
    assert body["context_window"] == 50
    assert body["max_turns"] is None
    assert body["tools"] == []
    assert ISO.match(body["created_at"])
    created = datetime.strptime(body["created_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - created).total_seconds()) < 60
    host = client.base_url.host + ":" + str(client.base_url.port)
    assert body["websocket_url"] == f"ws://{host}/v1/conversations/{body['session_id']}/stream"


def test_create_with_tools_limits_and_seed_tool_shape(client: httpx.Client) -> None:
    tools = [
        {
            "name": "lookup_order",
            "description": "Look up an order by its ID",
            "parameters": {"order_id": {"type": "string", "required": True}},
        }
    ]
    r = create(client, tools=tools, context_window=40, max_turns=100)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["tools"] == ["lookup_order"]
    assert body["context_window"] == 40
    assert body["max_turns"] == 100
    got = client.get(f"/v1/conversations/{body['session_id']}").json()
    assert got["tools"] == [
        {
            "name": "lookup_order",
            "description": "Look up an order by its ID",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string"}},
                "required": ["order_id"],
            },
        }
    ]


def test_json_schema_tools_and_endpoint_are_kept(client: httpx.Client) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string", "description": "City name"}},
        "required": ["city"],
    }
    endpoint = {"url": "https://tools.example/weather", "method": "get", "headers": {"X-K": "1"}}
    r = create(client, tools=[{"name": "weather", "parameters": schema, "endpoint": endpoint}])
    assert r.status_code == 200, r.text
    tool = client.get(f"/v1/conversations/{r.json()['session_id']}").json()["tools"][0]
    assert tool["parameters"] == schema
    assert tool["endpoint"] == {
        "url": "https://tools.example/weather",
        "method": "GET",
        "headers": {"X-K": "***"},  # header values are write-only (README "Security")
    }


def test_forwarded_headers_shape_the_websocket_url(client: httpx.Client) -> None:
    r = client.post(
        "/v1/conversations/create",
        json={"voice_id": VOICE, "system_prompt": "Hi"},
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "voice.example.com"},
    )
    sid = r.json()["session_id"]
    assert r.json()["websocket_url"] == f"wss://voice.example.com/v1/conversations/{sid}/stream"
    r = client.post(
        "/v1/conversations/create",
        json={"voice_id": VOICE, "system_prompt": "Hi"},
        headers={"X-Forwarded-Proto": "https", "Host": "parley.internal:9000"},
    )
    assert r.json()["websocket_url"].startswith("wss://parley.internal:9000/v1/conversations/")


def test_get_returns_the_session_object(client: httpx.Client) -> None:
    sid = create(client, language="en", max_turns=3).json()["session_id"]
    r = client.get(f"/v1/conversations/{sid}")
    assert r.status_code == 200
    body = r.json()
    assert body["session_id"] == sid
    assert body["status"] == "ready"
    assert body["system_prompt"] == "You are a friendly travel assistant."
    assert body["total_turns"] == 0
    assert body["history"] == []
    assert body["max_turns"] == 3
    assert ISO.match(body["last_activity_at"])
    assert body["websocket_url"].endswith(f"/v1/conversations/{sid}/stream")


def test_delete_ends_and_history_stays_readable(client: httpx.Client) -> None:
    sid = create(client).json()["session_id"]
    r = client.delete(f"/v1/conversations/{sid}")
    assert r.status_code == 200
    body = r.json()
    assert body == {
        "session_id": sid,
        "status": "ended",
        "total_turns": 0,
        "total_duration_ms": 0,
        "ended_at": body["ended_at"],
    }
    assert ISO.match(body["ended_at"])
    assert client.get(f"/v1/conversations/{sid}").json()["status"] == "ended"
    again = client.delete(f"/v1/conversations/{sid}")
    assert again.status_code == 200 and again.json()["ended_at"] == body["ended_at"]


def test_unknown_ids_are_404(client: httpx.Client) -> None:
    for method in ("GET", "DELETE"):
        r = client.request(method, "/v1/conversations/conv_doesnotexist")
        assert r.status_code == 404
        assert r.json()["error"]["type"] == "not_found_error"
        assert r.json()["error"]["param"] == "session_id"


def test_other_accounts_get_404(server: ServerThread, client: httpx.Client) -> None:
    sid = create(client).json()["session_id"]
    other = {"Authorization": f"Bearer {server.new_key('other')}"}
    with httpx.Client(base_url=server.url, headers=other) as c:
        assert c.get(f"/v1/conversations/{sid}").status_code == 404
        assert c.delete(f"/v1/conversations/{sid}").status_code == 404
    assert client.get(f"/v1/conversations/{sid}").json()["status"] == "ready"


def test_non_english_conversation_with_a_matching_voice(client: httpx.Client) -> None:
    voices = client.get("/v1/voices", params={"language": "de"}).json()["data"]
    assert voices, "espeak-ng speaks German"
    r = create(client, language="de", voice_id=voices[0]["voice_id"])
    # Accepted when the speech recogniser handles German; otherwise refused naming language.
    if r.status_code == 400:
        assert r.json()["error"]["param"] == "language"
    else:
        assert r.status_code == 200 and r.json()["language"] == "de"
