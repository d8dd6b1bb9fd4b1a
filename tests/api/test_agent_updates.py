"""PATCH /v1/agents/{id}: edit in place, pause and resume, over real HTTP (SQLite, PostgreSQL)."""

from __future__ import annotations

import httpx

from tests.api.test_agents import AGENT, make_agent
from tests.harness import ServerThread
from tests.stream_client import StreamClient


def test_patch_changes_fields_in_place(client: httpx.Client) -> None:
    agent = make_agent(client)
    r = client.patch(
        f"/v1/agents/{agent['id']}",
        json={
            "name": "Billing",
            "system_prompt": "You handle invoices.",
            "max_turns": 9,
            "voice_id": "espeak-en-us-male",
            "tools": [],
        },
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["id"] == agent["id"] and out["created_at"] == agent["created_at"]
    assert (out["name"], out["system_prompt"], out["max_turns"]) == (
        "Billing",
        "You handle invoices.",
        9,
    )
    assert out["voice_id"] == "espeak-en-us-male" and out["tools"] == []
    assert client.get(f"/v1/agents/{agent['id']}").json() == {
        k: v for k, v in out.items() if k != "terminated_sessions"
    }
    # fields not given are kept; max_turns null = unlimited
    r = client.patch(f"/v1/agents/{agent['id']}", json={"max_turns": None})
    assert r.json()["max_turns"] is None and r.json()["name"] == "Billing"


def test_patch_validates_like_create(client: httpx.Client) -> None:
    agent = make_agent(client)
    for body, param in (
        ({"voice_id": "nope"}, "voice_id"),
        ({"max_turns": 0}, "max_turns"),
        ({"language": "xx"}, "language"),
        ({"voice_id": "espeak-fr-fr-female"}, "voice_id"),  # the kept language is English
        ({"tools": [{"name": "x"}, {"name": "x"}]}, "tools"),
        ({"name": ""}, "name"),
        ({"name": None}, "name"),
        ({"status": "deleted"}, "status"),
        ({"max_turn": 5}, "max_turn"),
        ({"system_prompt": 5}, "system_prompt"),
    ):
        r = client.patch(f"/v1/agents/{agent['id']}", json=body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["error"]["param"] == param, (body, r.text)
        assert r.json()["error"]["type"] == "invalid_request_error"
    assert client.get(f"/v1/agents/{agent['id']}").json() == agent  # nothing changed
    assert client.patch("/v1/agents/agt_nonexistent00", json={"name": "x"}).status_code == 404


def test_new_sessions_use_the_agent_as_it_is_when_they_start(client: httpx.Client) -> None:
    agent = make_agent(client)
    before = client.post(f"/v1/agents/{agent['id']}/sessions").json()["session_id"]
    client.patch(
        f"/v1/agents/{agent['id']}", json={"system_prompt": "New persona.", "max_turns": 3}
    )
    after = client.post(f"/v1/agents/{agent['id']}/sessions").json()["session_id"]
    old = client.get(f"/v1/conversations/{before}").json()
    new = client.get(f"/v1/conversations/{after}").json()
    assert (old["system_prompt"], old["max_turns"]) == (AGENT["system_prompt"], 50)
    assert (new["system_prompt"], new["max_turns"]) == ("New persona.", 3)


async def test_pause_refuses_new_sessions_and_keeps_live_ones(
    server: ServerThread, client: httpx.Client, api_key: str
) -> None:
    agent = make_agent(client)
    sid = client.post(f"/v1/agents/{agent['id']}/sessions").json()["session_id"]
    idle = client.post(f"/v1/agents/{agent['id']}/sessions").json()["session_id"]
    stream = await StreamClient.connect(server.ws_url, sid, api_key)
    try:
        await stream.wait_for("session_started")
        r = client.patch(f"/v1/agents/{agent['id']}", json={"status": "paused"})
        assert r.status_code == 200 and r.json()["status"] == "paused"
        assert "terminated_sessions" not in r.json()
        refused = client.post(f"/v1/agents/{agent['id']}/sessions")
        assert refused.status_code == 409
        err = refused.json()["error"]
        assert err["type"] == "agent_paused" and err["param"] == "agent_id"
        assert "paused" in err["message"] and '"status": "active"' in err["message"]
        # the live session goes on
        await stream.send_json({"type": "keep_alive"})
        await stream.send_json({"type": "update_prompt", "prompt": "Still here."})
        await stream.wait_for("prompt_updated")
        assert stream.closed is None
        assert client.get(f"/v1/conversations/{sid}").json()["status"] == "active"
        assert client.get(f"/v1/conversations/{idle}").json()["status"] == "ready"
        # resume
        r = client.patch(f"/v1/agents/{agent['id']}", json={"status": "active"})
        assert r.json()["status"] == "active"
        assert client.post(f"/v1/agents/{agent['id']}/sessions").status_code == 200
        # pause and end the live sessions
        r = client.patch(
            f"/v1/agents/{agent['id']}",
            params={"end_sessions": "true"},
            json={"status": "paused"},
        )
        assert r.status_code == 200, r.text
        terminated = r.json()["terminated_sessions"]
        assert sid in terminated and idle in terminated and len(terminated) == 3
        code, reason = await stream.wait_closed()  # as DELETE /v1/agents closes them
        assert (code, reason) == (4000, "agent paused")
    finally:
        await stream.close()
    assert client.get(f"/v1/conversations/{sid}").json()["status"] == "ended"
    r = client.patch(f"/v1/agents/{agent['id']}", params={"end_sessions": "maybe"}, json={})
    assert r.status_code == 400 and r.json()["error"]["param"] == "end_sessions"


def test_other_accounts_cannot_patch(server: ServerThread, client: httpx.Client) -> None:
    agent = make_agent(client)
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {server.new_key()}"}
    ) as other:
        r = other.patch(f"/v1/agents/{agent['id']}", json={"status": "paused"})
        assert r.status_code == 404
    assert client.get(f"/v1/agents/{agent['id']}").json()["status"] == "active"
