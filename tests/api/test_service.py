"""Voices, health, OpenAPI."""

from __future__ import annotations

import httpx

from parley.providers.tts.espeak import library
from tests.harness import ServerThread


def test_voices_cover_every_espeak_language(client: httpx.Client) -> None:
    body = client.get("/v1/voices").json()
    voices = body["data"]
    assert body["total"] == len(voices) > 100
    assert {"voice_id", "name", "language", "gender", "engine"} <= set(voices[0])
    ids = {v["voice_id"] for v in voices}
    assert {"espeak-en-us-female", "espeak-en-us-male", "espeak-de-female"} <= ids
    spoken = {tag for v in library().voices() for tag in v.tags}
    listed = {v["locale"] for v in voices}
    assert {"en-us", "fr-fr", "es", "de", "ja", "cmn", "sw"} <= listed
    assert len(listed) > 0.9 * len({v.tags[0] for v in library().voices() if v.tags})
    assert spoken
    german = client.get("/v1/voices", params={"language": "de"}).json()["data"]
    assert german and all(v["language"] == "de" for v in german)
    assert {v["gender"] for v in german} == {"female", "male"}


def test_health_needs_no_key_and_shows_internals_only_with_one(
    server: ServerThread, api_key: str
) -> None:
    r = httpx.get(f"{server.url}/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}
    r = httpx.get(f"{server.url}/healthz", headers={"Authorization": f"Bearer {api_key}"})
    assert r.json()["status"] == "ok" and r.json()["database"] == "ok"
    assert "live_streams" in r.json() and "version" in r.json()


def test_openapi_document(server: ServerThread) -> None:
    doc = httpx.get(f"{server.url}/openapi.json").json()
    paths = doc["paths"]
    for path in (
        "/v1/conversations/create",
        "/v1/conversations/{session_id}",
        "/v1/agents/create",
        "/v1/agents",
        "/v1/agents/{agent_id}",
        "/v1/agents/{agent_id}/sessions",
        "/v1/voices",
    ):
        assert path in paths, path
