"""`/v1/agents/*` over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx

from tests.harness import ServerThread

AGENT = {
    "name": "Support",
    "voice_id": "espeak-en-gb-female",
    "system_prompt": "You are a support agent for Acme.",
    "tools": [
        {"name": "lookup_order", "parameters": {"order_id": {"type": "string", "required": True}}}
    ],
}


def make_agent(client: httpx.Client, **fields: object) -> dict:  # type: ignore[type-arg]
    r = client.post("/v1/agents/create", json={**AGENT, **fields})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_create_agent(client: httpx.Client) -> None:
    agent = make_agent(client)
    assert re.match(r"^agt_[a-z0-9]{12}$", agent["id"])
    assert agent["status"] == "active"
    assert agent["name"] == "Support"
    assert agent["language"] == "en"
    assert agent["max_turns"] == 50
    assert agent["tools"][0]["parameters"]["required"] == ["order_id"]
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", agent["created_at"])
    assert client.get(f"/v1/agents/{agent['id']}").json() == agent


def test_list_paginates(client: httpx.Client) -> None:
    made = [make_agent(client, name=f"A{i}")["id"] for i in range(5)]
    page = client.get("/v1/agents").json()
    assert page["total"] == 5 and page["limit"] == 20 and page["offset"] == 0
    assert {a["id"] for a in page["data"]} == set(made)
    first = client.get("/v1/agents", params={"limit": 2}).json()
    second = client.get("/v1/agents", params={"limit": 2, "offset": 2}).json()
    third = client.get("/v1/agents", params={"limit": 2, "offset": 4}).json()
    ids = [a["id"] for p in (first, second, third) for a in p["data"]]
    assert sorted(ids) == sorted(made) and len(set(ids)) == 5
    assert first["has_more"] and second["has_more"] and not third["has_more"]
    for bad in ({"limit": 0}, {"limit": 101}, {"offset": -1}, {"limit": "many"}):
        r = client.get("/v1/agents", params=bad)
        assert r.status_code == 400 and r.json()["error"]["param"] == next(iter(bad))


def test_session_inherits_the_agent(client: httpx.Client) -> None:
    agent = make_agent(client, max_turns=7)
    r = client.post(
        f"/v1/agents/{agent['id']}/sessions",
        json={"metadata": {"customer": "c_42"}, "initial_message": "Hello! How can I help?"},
    )
    assert r.status_code == 200, r.text
    ses = r.json()
    assert re.match(r"^ses_[a-z0-9]{12}$", ses["session_id"])
    assert ses["agent_id"] == agent["id"]
    assert ses["status"] == "active"
    assert ses["metadata"] == {"customer": "c_42"}
    assert ses["websocket_url"].endswith(f"/v1/conversations/{ses['session_id']}/stream")
    created = datetime.strptime(ses["created_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    expires = datetime.strptime(ses["expires_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert expires > created
    conv = client.get(f"/v1/conversations/{ses['session_id']}").json()
    assert conv["voice_id"] == "espeak-en-gb-female"
    assert conv["system_prompt"] == AGENT["system_prompt"]
    assert conv["max_turns"] == 7
    assert conv["agent_id"] == agent["id"]
    assert [t["name"] for t in conv["tools"]] == ["lookup_order"]
    assert conv["metadata"] == {"customer": "c_42"}


def test_session_without_body(client: httpx.Client) -> None:
    agent = make_agent(client)
    r = client.post(f"/v1/agents/{agent['id']}/sessions")
    assert r.status_code == 200, r.text
    assert r.json()["metadata"] is None


def test_delete_agent_terminates_sessions(client: httpx.Client) -> None:
    agent = make_agent(client)
    sessions = [
        client.post(f"/v1/agents/{agent['id']}/sessions").json()["session_id"] for _ in range(2)
    ]
    r = client.delete(f"/v1/agents/{agent['id']}")
    assert r.status_code == 200
    assert r.json()["status"] == "deleted"
    assert sorted(r.json()["terminated_sessions"]) == sorted(sessions)
    for sid in sessions:
        assert client.get(f"/v1/conversations/{sid}").json()["status"] == "ended"
    assert client.get(f"/v1/agents/{agent['id']}").status_code == 404
    assert client.delete(f"/v1/agents/{agent['id']}").status_code == 404
    assert client.post(f"/v1/agents/{agent['id']}/sessions").status_code == 404
    assert agent["id"] not in {a["id"] for a in client.get("/v1/agents").json()["data"]}


def test_agent_bad_input(client: httpx.Client) -> None:
    for patch, param in (
        ({"name": None}, "name"),
        ({"voice_id": "nope"}, "voice_id"),
        ({"max_turns": 0}, "max_turns"),
        ({"language": "xx"}, "language"),
        ({"tools": [{"name": "x"}, {"name": "x"}]}, "tools"),
    ):
        body = {k: v for k, v in {**AGENT, **patch}.items() if v is not None}
        r = client.post("/v1/agents/create", json=body)
        assert r.status_code == 400 and r.json()["error"]["param"] == param, r.text
    agent = make_agent(client)
    r = client.post(f"/v1/agents/{agent['id']}/sessions", json={"metadata": "x"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "metadata"
    r = client.post(f"/v1/agents/{agent['id']}/sessions", json={"initial_message": 5})
    assert r.status_code == 400 and r.json()["error"]["param"] == "initial_message"


def test_agents_are_scoped_to_their_account(server: ServerThread, client: httpx.Client) -> None:
    agent = make_agent(client)
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {server.new_key()}"}
    ) as c:
        assert c.get(f"/v1/agents/{agent['id']}").status_code == 404
        assert c.delete(f"/v1/agents/{agent['id']}").status_code == 404
        assert c.post(f"/v1/agents/{agent['id']}/sessions").status_code == 404
        assert c.get("/v1/agents").json()["total"] == 0
