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
