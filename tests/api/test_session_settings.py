"""Turn-taking settings (`settings` at create): on conversations and agents, checked with
a 400 naming the field, stored, and inherited by an agent's sessions."""

from __future__ import annotations

import httpx
import pytest

from parley.store import Store
from tests.api.test_agents import make_agent
from tests.harness import ServerThread, run_async

GOOD = {"voice_id": "espeak-en-us-female", "system_prompt": "Be brief."}
WAITS = {"end_of_turn_fast_ms": 150, "end_of_turn_normal_ms": 900, "end_of_turn_slow_ms": 2400}

BAD = [
    ({"end_of_turn_fast_ms": -1}, "settings.end_of_turn_fast_ms"),
    ({"end_of_turn_normal_ms": 50}, "settings.end_of_turn_normal_ms"),
    ({"end_of_turn_slow_ms": 20_000}, "settings.end_of_turn_slow_ms"),
    ({"end_of_turn_slow_ms": "1600"}, "settings.end_of_turn_slow_ms"),
    ({"end_of_turn_fast_ms": 800}, "settings.end_of_turn_normal_ms"),  # fast > normal 600
    ({"end_of_turn_normal_ms": 2000}, "settings.end_of_turn_slow_ms"),  # normal > slow 1600
    ({"end_of_turn_ms": 300}, "settings.end_of_turn_ms"),  # a typo is refused
]


def stored_settings(server: ServerThread, session_id: str) -> dict[str, object]:
    async def read() -> dict[str, object]:
        store = await Store.open(server.settings.resolved_database_url())
        try:
            rec = await store.conversations.get(session_id)
            assert rec is not None
            return rec.settings
        finally:
            await store.close()

    return run_async(read)


def assert_400(r: httpx.Response, field: str) -> None:
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["param"] == "settings" and err["type"] == "invalid_request_error"
    assert f"'{field}'" in err["message"], err


@pytest.mark.parametrize(("settings", "field"), BAD)
def test_bad_waits_are_refused_naming_the_field(
    client: httpx.Client, settings: dict[str, object], field: str
) -> None:
    assert_400(client.post("/v1/conversations/create", json={**GOOD, "settings": settings}), field)
    agent = {"name": "a", **GOOD, "settings": settings}
    assert_400(client.post("/v1/agents/create", json=agent), field)


def test_a_conversation_keeps_its_waits(server: ServerThread, client: httpx.Client) -> None:
    r = client.post("/v1/conversations/create", json={**GOOD, "settings": WAITS})
    assert r.status_code == 200, r.text
    settings = stored_settings(server, r.json()["session_id"])
    assert {k: settings[k] for k in WAITS} == WAITS
    assert settings["interruption"] == "adaptive"  # the others at their defaults


def test_an_agent_gives_its_sessions_its_settings(
    server: ServerThread, client: httpx.Client
) -> None:
    agent = make_agent(client, settings={**WAITS, "interruption": "immediate"})
    assert agent["settings"]["end_of_turn_slow_ms"] == 2400
    sid = client.post(f"/v1/agents/{agent['id']}/sessions").json()["session_id"]
    assert stored_settings(server, sid)["interruption"] == "immediate"

    # PATCH replaces them (checked as at create); new sessions start with the new ones
    path = f"/v1/agents/{agent['id']}"
    assert_400(
        client.patch(path, json={"settings": {"end_of_turn_fast_ms": 5000}}),
        ("settings.end_of_turn_normal_ms"),
    )
    assert client.get(path).json()["settings"] == agent["settings"]  # unchanged
    r = client.patch(path, json={"settings": {"end_of_turn_slow_ms": 3000}})
    assert r.status_code == 200, r.text
    assert r.json()["settings"]["end_of_turn_slow_ms"] == 3000
    assert r.json()["settings"]["interruption"] == "adaptive"
    later = client.post(f"/v1/agents/{agent['id']}/sessions").json()["session_id"]
    assert stored_settings(server, later)["end_of_turn_slow_ms"] == 3000
    assert stored_settings(server, sid)["end_of_turn_slow_ms"] == 2400  # the live one keeps
    # null: back to the defaults
    assert client.patch(path, json={"settings": None}).json()["settings"] is None
    plain = client.post(f"/v1/agents/{agent['id']}/sessions").json()["session_id"]
    assert stored_settings(server, plain) == {}
