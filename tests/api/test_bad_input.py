"""Bad input gets a 4xx with `{"error": {"type", "message", "param"}}`, never a 5xx."""

from __future__ import annotations

import httpx
import pytest

from tests.harness import ServerThread

VOICE = "espeak-en-us-female"
GOOD = {"voice_id": VOICE, "system_prompt": "Be brief."}


def assert_error(r: httpx.Response, status: int, param: str | None) -> dict[str, str]:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) == {"type", "message", "param"}
    assert err["param"] == param
    assert err["message"] and "Traceback" not in err["message"]
    return err


@pytest.mark.parametrize(
    ("patch", "param"),
    [
        ({"voice_id": None}, "voice_id"),
        ({"system_prompt": None}, "system_prompt"),
        ({"voice_id": 7}, "voice_id"),
        ({"system_prompt": ["x"]}, "system_prompt"),
        ({"language": "english"}, "language"),
        ({"language": "en-US"}, "language"),
        ({"language": "zz"}, "language"),
        ({"language": 5}, "language"),
        ({"context_window": 0}, "context_window"),
        ({"context_window": -3}, "context_window"),
        ({"context_window": "5"}, "context_window"),
        ({"context_window": True}, "context_window"),
        ({"max_turns": 0}, "max_turns"),
        ({"max_turns": 2.5}, "max_turns"),
        ({"settings": {"interruption": "sometimes"}}, "settings"),
        ({"settings": {"backchannel_ms": 50}}, "settings"),
        ({"settings": {"pause_limit_ms": 10_000}}, "settings"),
        ({"settings": {"idle_timeout_s": 1}}, "settings"),
        ({"settings": {"idle_timeout_s": "60"}}, "settings"),
        ({"settings": {"max_duration_s": 10**9}}, "settings"),
        ({"tools": "lookup"}, "tools"),
        ({"tools": [{"description": "no name"}]}, "tools"),
        ({"tools": [{"name": "a"}, {"name": "a"}]}, "tools"),
        ({"tools": [{"name": "a", "parameters": "string"}]}, "tools"),
        ({"tools": [{"name": "a", "parameters": {"x": {"type": "float"}}}]}, "tools"),
        (
            {"tools": [{"name": "a", "parameters": {"x": {"type": "string", "required": "yes"}}}]},
            "tools",
        ),
        (
            {
                "tools": [
                    {
                        "name": "a",
                        "parameters": {"type": "object", "properties": {}, "required": ["x"]},
                    }
                ]
            },
            "tools",
        ),
        ({"tools": [{"name": "bad name!"}]}, "tools"),
        ({"tools": [{"name": "a", "endpoint": {"url": "ftp://x"}}]}, "tools"),
        ({"unexpected": 1}, "unexpected"),
    ],
)
def test_create_conversation_rejects(
    client: httpx.Client, patch: dict[str, object], param: str
) -> None:
    body = {**GOOD, **patch}
    body = {k: v for k, v in body.items() if v is not None}
    assert_error(client.post("/v1/conversations/create", json=body), 400, param)


def test_unknown_voice_says_where_to_look(client: httpx.Client) -> None:
    err = assert_error(
        client.post("/v1/conversations/create", json={**GOOD, "voice_id": "nadia_v2"}),
        400,
        "voice_id",
    )
    assert "GET /v1/voices" in err["message"]


def test_voice_of_another_language_is_refused(client: httpx.Client) -> None:
    r = client.post(
        "/v1/conversations/create",
        json={**GOOD, "voice_id": "espeak-fr-fr-female", "language": "en"},
    )
    assert_error(r, 400, "voice_id")


def test_malformed_json_and_wrong_body_types(client: httpx.Client) -> None:
    for content in (b"{not json", b"[1, 2]", b'"text"', b""):
        r = client.post(
            "/v1/conversations/create",
            content=content,
            headers={"Content-Type": "application/json"},
        )
        assert 400 <= r.status_code < 500, (content, r.text)
        assert "error" in r.json()


def test_body_over_one_mib_is_413(client: httpx.Client) -> None:
    big = {**GOOD, "system_prompt": "x" * (1024 * 1024 + 10)}
    assert_error(client.post("/v1/conversations/create", json=big), 413, None)

    def chunks():  # type: ignore[no-untyped-def]
        yield b'{"voice_id": "espeak-en-us-female", "system_prompt": "'
        for _ in range(40):
            yield b"y" * 32768
        yield b'"}'

    r = client.post(
        "/v1/conversations/create", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert_error(r, 413, None)


def test_auth_is_required(server: ServerThread) -> None:
    with httpx.Client(base_url=server.url) as c:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}):
            r = c.post("/v1/conversations/create", json=GOOD, headers=headers)
            assert_error(r, 401, None)
            assert r.json()["error"]["type"] == "authentication_error"
        for path in ("/v1/agents", "/v1/voices", "/v1/conversations/conv_x"):
            assert c.get(path).status_code == 401


def test_unknown_route_and_method(client: httpx.Client) -> None:
    assert_error(client.get("/v1/nothing"), 404, None)
    r = client.put("/v1/conversations/create", json=GOOD)
    assert r.status_code == 405 and "error" in r.json()


def test_bootstrap_key_works(server: ServerThread) -> None:
    from tests.harness import BOOTSTRAP_KEY

    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {BOOTSTRAP_KEY}"}
    ) as c:
        assert c.post("/v1/conversations/create", json=GOOD).status_code == 200
