"""`/docs` is served from local files (no CDN), open without a key like `/openapi.json`:
they describe the API and hold no data. Rendering: test_docs_browser.py."""

from __future__ import annotations

import httpx

from tests.harness import ServerThread


def test_docs_pages_and_assets_are_local_and_open(server: ServerThread) -> None:
    page = httpx.get(f"{server.url}/docs")
    assert page.status_code == 200
    assert "/docs/static/" in page.text and "https://" not in page.text
    for asset, marker in (
        ("swagger-ui-bundle.js", "SwaggerUIBundle"),
        ("swagger-ui.css", ".swagger-ui"),
    ):
        got = httpx.get(f"{server.url}/docs/static/{asset}")
        assert got.status_code == 200 and marker in got.text, asset
    assert httpx.get(f"{server.url}/openapi.json").json()["info"]["title"] == "Parley"
    assert httpx.get(f"{server.url}/docs/static/nothing.js").status_code == 404
    assert httpx.get(f"{server.url}/redoc").status_code == 404  # it would reach a CDN


def test_only_the_documented_paths_answer_without_a_key(server: ServerThread) -> None:
    """The README: every endpoint under /v1 takes a key, but Twilio's webhook, which takes
    Twilio's signature instead (403 without); /healthz, /playground and the API's
    description (/openapi.json, /docs and its files) are open."""
    schema = httpx.get(f"{server.url}/openapi.json").json()
    signed = {"/v1/telephony/twilio/voice"}
    for path, operations in schema["paths"].items():
        url = server.url + path.replace("{", "").replace("}", "")  # any id will do
        for method in operations:
            got = httpx.request(method, url, json={})
            expected = 200 if path == "/healthz" else 403 if path in signed else 401
            assert got.status_code == expected, (method, path, got.status_code)
    assert signed <= set(schema["paths"])
    stream = httpx.get(f"{server.url}/v1/conversations/conv_aaaaaaaaaaaa/stream")
    assert stream.status_code in (401, 404, 426)  # never the conversation without a key
    for path in (
        "/openapi.json",
        "/docs",
        "/docs/static/swagger-ui.css",
        "/docs/oauth2-redirect",
        "/playground",
    ):
        assert httpx.get(f"{server.url}{path}").status_code == 200, path
