"""Key management, bootstrap keys retired at start-up, rate and stream limits, and
numeric inputs that used to answer 500."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
import websockets

from parley.config import Settings
from parley.store import Store
from tests.harness import ServerThread, fresh_database_url, run_async, server_settings


def test_keys_list_create_revoke(server: ServerThread, client: httpx.Client) -> None:
    first = client.get("/v1/keys").json()["data"]
    assert len(first) == 1 and "key" not in first[0] and first[0]["id"].startswith("key_")
    made = client.post("/v1/keys", json={"name": "ci"}).json()
    assert made["key"].startswith("prl_") and made["name"] == "ci"
    listed = client.get("/v1/keys").json()["data"]
    assert {k["id"] for k in listed} == {first[0]["id"], made["id"]}
    assert all("key" not in k for k in listed) and made["key"] not in str(listed)
    new = {"Authorization": f"Bearer {made['key']}"}
    assert httpx.get(f"{server.url}/v1/keys", headers=new).status_code == 200
    assert client.delete(f"/v1/keys/{made['id']}").json() == {"id": made["id"], "status": "revoked"}
    assert httpx.get(f"{server.url}/v1/keys", headers=new).status_code == 401
    assert client.delete(f"/v1/keys/{made['id']}").status_code == 404
    assert client.delete("/v1/keys/key_99999999999999999999999").status_code == 404


def test_other_accounts_keys_cannot_be_revoked(server: ServerThread, client: httpx.Client) -> None:
    other = httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {server.new_key('o')}"}
    )
    theirs = other.get("/v1/keys").json()["data"][0]["id"]
    assert client.delete(f"/v1/keys/{theirs}").status_code == 404
    assert other.get("/v1/keys").status_code == 200


def test_a_bootstrap_key_no_longer_configured_stops_working(tmp_path: Path) -> None:
    url = fresh_database_url("sqlite", tmp_path)
    old, new = "dev-key-change-me-old-0123456789", "a-new-long-random-key-0123456789"
    with ServerThread(Settings(data_dir=tmp_path, database_url=url, api_key=old)) as srv:
        r = httpx.get(f"{srv.url}/v1/voices", headers={"Authorization": f"Bearer {old}"})
        assert r.status_code == 200
    with ServerThread(Settings(data_dir=tmp_path, database_url=url, api_key=new)) as srv:
        for key, status in ((old, 401), (new, 200)):
            r = httpx.get(f"{srv.url}/v1/voices", headers={"Authorization": f"Bearer {key}"})
            assert r.status_code == status, key
    with ServerThread(Settings(data_dir=tmp_path, database_url=url, api_key=None)) as srv:
        r = httpx.get(f"{srv.url}/v1/voices", headers={"Authorization": f"Bearer {new}"})
        assert r.status_code == 401


def test_rest_rate_limit_answers_429_with_retry_after(tmp_path: Path) -> None:
    settings = server_settings(
        fresh_database_url("sqlite", tmp_path), tmp_path, rate_limit_per_s=0.01, rate_limit_burst=3
    )
    with ServerThread(settings) as srv:
        key, other = srv.new_key(), srv.new_key()
        codes = [
            httpx.get(f"{srv.url}/v1/keys", headers={"Authorization": f"Bearer {key}"})
            for _ in range(5)
        ]
        assert [r.status_code for r in codes] == [200, 200, 200, 429, 429]
        body = codes[-1].json()["error"]
        assert body["type"] == "rate_limit_error" and body["message"]
        assert int(codes[-1].headers["retry-after"]) >= 1
        # per account: another account is not held back
        r = httpx.get(f"{srv.url}/v1/keys", headers={"Authorization": f"Bearer {other}"})
        assert r.status_code == 200


async def test_live_stream_caps_per_account(tmp_path: Path) -> None:
    settings = server_settings(
        fresh_database_url("sqlite", tmp_path), tmp_path, max_streams_per_account=1
    )
    with ServerThread(settings) as srv:
        key = srv.new_key()
        h = {"Authorization": f"Bearer {key}"}
        body = {"voice_id": "espeak-en-us-female", "system_prompt": "Hi."}
        a, b = (
            httpx.post(f"{srv.url}/v1/conversations/create", json=body, headers=h).json()
            for _ in range(2)
        )
        url = f"{srv.ws_url}/v1/conversations/{{}}/stream"
        async with websockets.connect(url.format(a["session_id"]), additional_headers=h) as ws:
            await ws.recv()
            with pytest.raises(websockets.InvalidStatus) as refused:
                await websockets.connect(url.format(b["session_id"]), additional_headers=h)
            assert refused.value.response.status_code == 429
            # a takeover of the same session is not a second stream
            async with websockets.connect(
                url.format(a["session_id"]), additional_headers=h
            ) as again:
                await again.recv()
        await asyncio.sleep(0.2)
        async with websockets.connect(url.format(b["session_id"]), additional_headers=h) as ws:
            await ws.recv()


@pytest.mark.parametrize(
    "path, body, param",
    [
        ("/v1/conversations/create", {"max_turns": 2**63}, "max_turns"),
        ("/v1/conversations/create", {"context_window": 10**30}, "context_window"),
        ("/v1/agents/create", {"name": "a", "max_turns": 2**64}, "max_turns"),
    ],
)
def test_huge_numbers_are_400_not_500(
    client: httpx.Client, path: str, body: dict[str, object], param: str
) -> None:
    full = {"voice_id": "espeak-en-us-female", "system_prompt": "Hi.", **body}
    r = client.post(path, json=full)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == param


def test_huge_offsets_are_400_not_500(client: httpx.Client) -> None:
    for query in ("offset=1000000000000000000000000000000", "limit=99999999999999999999"):
        r = client.get(f"/v1/agents?{query}")
        assert r.status_code == 400, r.text
        assert r.json()["error"]["param"] in ("offset", "limit")


@pytest.mark.parametrize(
    "query, param",
    [
        ("vad_threshold=0", "vad_threshold"),
        ("vad_threshold=0.0", "vad_threshold"),
        ("vad_threshold=-0.1", "vad_threshold"),
        ("vad_threshold=nan", "vad_threshold"),
        ("last_turn_id=turn_" + "9" * 40, "last_turn_id"),
    ],
)
async def test_stream_parameters_out_of_range_are_400(
    server: ServerThread, client: httpx.Client, api_key: str, query: str, param: str
) -> None:
    sid = client.post(
        "/v1/conversations/create",
        json={"voice_id": "espeak-en-us-female", "system_prompt": "Hi."},
    ).json()["session_id"]
    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(
            f"{server.ws_url}/v1/conversations/{sid}/stream?{query}",
            additional_headers={"Authorization": f"Bearer {api_key}"},
        )
    assert refused.value.response.status_code == 400
    assert param.encode() in refused.value.response.body


def test_store_keys_survive_a_concurrent_bootstrap(tmp_path: Path) -> None:
    """Two starts at once register PARLEY_API_KEY once, without an IntegrityError."""
    url = fresh_database_url("sqlite", tmp_path)

    async def both() -> int:
        one, two = await Store.open(url), await Store.open(url)
        try:
            await asyncio.gather(
                *(s.keys.ensure_bootstrap_key("k" * 32) for s in (one, two, one, two))
            )
            return await one.keys.count()
        finally:
            await one.close()
            await two.close()

    assert run_async(both) == 1
