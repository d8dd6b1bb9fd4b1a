"""GET /v1/conversations and GET /v1/agents/{id}/sessions: filters, pages, tenancy."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone

import httpx

from tests.api.test_agents import make_agent
from tests.harness import ServerThread

VOICE = "espeak-en-us-female"


def conversation(client: httpx.Client) -> str:
    r = client.post(
        "/v1/conversations/create", json={"voice_id": VOICE, "system_prompt": "You help."}
    )
    assert r.status_code == 200, r.text
    return str(r.json()["session_id"])


def session(client: httpx.Client, agent_id: str, **metadata: object) -> str:
    r = client.post(f"/v1/agents/{agent_id}/sessions", json={"metadata": metadata or None})
    assert r.status_code == 200, r.text
    return str(r.json()["session_id"])


def ids(page: dict) -> list[str]:  # type: ignore[type-arg]
    return [row["session_id"] for row in page["data"]]


def other_client(server: ServerThread) -> httpx.Client:
    key = server.new_key()
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"})


def test_lists_filter_and_never_show_other_accounts(
    server: ServerThread, client: httpx.Client
) -> None:
    agent = make_agent(client)["id"]
    plain = conversation(client)
    call = session(client, agent, callSid="CA100", tier="gold")
    other_call = session(client, agent, callSid="CA200", tier="gold")
    ended = session(client, agent, callSid="CA300")
    client.delete(f"/v1/conversations/{ended}")
    with other_client(server) as other:
        theirs_agent = make_agent(other)["id"]
        theirs = session(other, theirs_agent, callSid="CA100")
        conversation(other)
        # the other account sees only its own rows, whatever the filter
        assert set(ids(other.get("/v1/conversations").json())) >= {theirs}
        assert plain not in ids(other.get("/v1/conversations").json())
        assert ids(other.get("/v1/conversations", params={"metadata.callSid": "CA100"}).json()) == [
            theirs
        ]
        assert other.get("/v1/conversations", params={"agent_id": agent}).json()["data"] == []
        assert other.get(f"/v1/agents/{agent}/sessions").status_code == 404

    page = client.get("/v1/conversations").json()
    assert set(page) == {"data", "total", "limit", "offset", "has_more", "next_cursor"}
    assert ids(page) == [ended, other_call, call, plain]  # newest first
    assert page["total"] == 4 and not page["has_more"] and page["next_cursor"] is None
    row = page["data"][3]
    assert row["session_id"] == plain and row["status"] == "ready" and row["total_turns"] == 0
    assert row["agent_id"] is None and "history" not in row
    assert page["data"][2]["metadata"] == {"callSid": "CA100", "tier": "gold"}

    def q(**params: object) -> list[str]:
        r = client.get("/v1/conversations", params=params)  # type: ignore[arg-type]
        assert r.status_code == 200, r.text
        return ids(r.json())

    assert q(**{"metadata.callSid": "CA100"}) == [call]
    assert q(**{"metadata.tier": "gold"}) == [other_call, call]
    assert q(**{"metadata.tier": "gold", "metadata.callSid": "CA200"}) == [other_call]
    assert q(**{"metadata.tier": "silver"}) == []
    assert q(agent_id=agent) == [ended, other_call, call]
    assert q(status="ended") == [ended]
    assert q(status="ready", agent_id=agent) == [other_call, call]
    assert q(order="asc") == [plain, call, other_call, ended]
    sessions = client.get(f"/v1/agents/{agent}/sessions").json()
    assert ids(sessions) == [ended, other_call, call]
    assert sessions["data"][0]["status"] == "ended" and sessions["data"][1]["status"] == "active"
    assert ids(client.get(f"/v1/agents/{agent}/sessions", params={"status": "active"}).json()) == [
        other_call,
        call,
    ]
    assert ids(
        client.get(f"/v1/agents/{agent}/sessions", params={"metadata.callSid": "CA300"}).json()
    ) == [ended]


def test_created_after_and_before(client: httpx.Client) -> None:
    first = conversation(client)
    time.sleep(0.05)
    middle = datetime.now(UTC)
    time.sleep(0.05)
    second = conversation(client)

    def q(**params: str) -> list[str]:
        r = client.get("/v1/conversations", params=params)
        assert r.status_code == 200, r.text
        return ids(r.json())

    stamp = middle.isoformat().replace("+00:00", "Z")
    assert q(created_after=stamp) == [second]
    assert q(created_before=stamp) == [first]
    # the same instant in another zone, and as a naive time (taken as UTC)
    elsewhere = middle.astimezone(timezone(timedelta(hours=-5))).isoformat()
    assert q(created_after=elsewhere) == [second]
    assert q(created_before=middle.replace(tzinfo=None).isoformat()) == [first]
    assert q(created_after=stamp, created_before=stamp) == []


def test_bad_filters_name_the_parameter(client: httpx.Client) -> None:
    agent = make_agent(client)["id"]
    for path in ("/v1/conversations", f"/v1/agents/{agent}/sessions"):
        for params, param in (
            ({"status": "sleeping"}, "status"),
            ({"created_after": "yesterday"}, "created_after"),
            ({"created_before": "2026-13-40"}, "created_before"),
            ({"created_before": "9999-12-31T23:59:59-14:00"}, "created_before"),
            ({"created_after": "0001-01-01T00:00:00+14:00"}, "created_after"),
            ({"metadata.bad key": "x"}, "metadata"),
            ({"metadata": "callSid:1"}, "metadata"),
            ({"limit": 0}, "limit"),
            ({"limit": 101}, "limit"),
            ({"offset": -1}, "offset"),
            ({"order": "sideways"}, "order"),
            ({"cursor": "not-a-cursor"}, "cursor"),
        ):
            r = client.get(path, params=params)
            assert r.status_code == 400, (path, params, r.text)
            assert r.json()["error"]["param"] == param, (path, params, r.text)
    page = client.get("/v1/conversations", params={"limit": 1}).json()
    if page["next_cursor"]:
        r = client.get("/v1/conversations", params={"cursor": page["next_cursor"], "offset": 1})
        assert r.status_code == 400 and r.json()["error"]["param"] == "offset"
        r = client.get("/v1/conversations", params={"cursor": page["next_cursor"], "order": "asc"})
        assert r.status_code == 400 and r.json()["error"]["param"] == "cursor"


def test_paging_while_rows_are_added_skips_and_repeats_nothing(client: httpx.Client) -> None:
    existing = [conversation(client) for _ in range(7)]
    seen: list[str] = []
    # by cursor, newest first: rows added meanwhile land before the cursor, unseen
    page = client.get("/v1/conversations", params={"limit": 3}).json()
    added: list[str] = []
    while True:
        seen += ids(page)
        added += [conversation(client), conversation(client)]
        if not page["has_more"]:
            break
        page = client.get(
            "/v1/conversations", params={"limit": 3, "cursor": page["next_cursor"]}
        ).json()
        assert page["offset"] == 0
    assert seen == list(reversed(existing))
    assert len(seen) == len(set(seen))
    # oldest first by offset (the seed's shape): new rows go to the end, so no shift
    seen, offset = [], 0
    everything = client.get("/v1/conversations", params={"order": "asc", "limit": 100}).json()
    before = ids(everything)
    while True:
        page = client.get(
            "/v1/conversations", params={"order": "asc", "limit": 4, "offset": offset}
        ).json()
        seen += ids(page)
        conversation(client)
        offset += len(page["data"])
        if len(seen) >= len(before):
            break
    assert seen[: len(before)] == before and len(set(seen)) == len(seen)
    assert set(existing + added) <= set(before)
