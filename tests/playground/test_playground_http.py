"""`/playground` over plain HTTP: the page and every asset it loads, with no key inside."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.harness import BOOTSTRAP_KEY, ServerThread

JS = "text/javascript"


@pytest.fixture
def http(server: ServerThread) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=10)


def referenced_assets(http: httpx.Client) -> set[str]:
    """Every /playground/… URL the page loads: from the HTML, the modules' imports and the
    AudioWorklet module, followed transitively."""
    html = http.get("/playground").text
    todo = set(re.findall(r'(?:src|href)="(/playground/[^"]+)"', html))
    seen: set[str] = set()
    while todo:
        url = todo.pop()
        seen.add(url)
        if url.endswith(".js"):
            body = http.get(url).text
            for name in re.findall(r'from "\./([\w.-]+\.js)"', body):
                todo.add(f"/playground/{name}")
            todo.update(re.findall(r'addModule\("(/playground/[\w.-]+\.js)"\)', body))
        todo -= seen
    return seen


@pytest.mark.parametrize("path", ["/playground", "/playground/"])
def test_page_is_served_without_any_key(http: httpx.Client, api_key: str, path: str) -> None:
    r = http.get(path)  # no Authorization header: the page itself is public
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/playground/app.js">' in r.text
    assert 'id="api-key"' in r.text and 'type="password"' in r.text
    for secret in (BOOTSTRAP_KEY, api_key):
        assert secret not in r.text
    assert "prl_" not in r.text.replace('placeholder="prl_…"', "")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert r.headers["referrer-policy"] == "no-referrer"


def test_every_asset_loads_with_its_type_and_nothing_is_external(
    http: httpx.Client, api_key: str
) -> None:
    assets = referenced_assets(http)
    expected = {
        "app.js", "api.js", "stream.js", "mic.js", "mic-worklet.js", "player.js",
        "transcript.js", "latency.js", "tools.js", "playground.css",
    }  # fmt: skip
    assert {a.rsplit("/", 1)[1] for a in assets} == expected
    for url in sorted(assets):
        r = http.get(url)
        assert r.status_code == 200, url
        kind = JS if url.endswith(".js") else "text/css"
        assert r.headers["content-type"].startswith(kind), (url, r.headers["content-type"])
        assert r.headers["x-content-type-options"] == "nosniff"
        for secret in (BOOTSTRAP_KEY, api_key):
            assert secret not in r.text, url
        # Offline: no CDN, no remote font, no absolute URL to anywhere.
        assert not re.search(r"""["'(]\s*(?:https?:)?//[a-z0-9]""", r.text, re.I), url


def test_the_page_asks_the_rest_api_for_a_stream_token(http: httpx.Client) -> None:
    """The socket is opened with the short-lived token as a subprotocol, never the key."""
    stream_js = http.get("/playground/stream.js").text
    assert '["parley", `token.${token}`]' in stream_js
    api_js = http.get("/playground/api.js").text
    assert "/stream_token" in api_js
    assert "Authorization: `Bearer ${this.#key}`" in api_js
    for name in ("app.js", "api.js", "stream.js"):
        body = http.get(f"/playground/{name}").text
        assert "localStorage" not in body and "sessionStorage" not in body, name
        assert "?token=" not in body and 'set("token"' not in body, name


@pytest.mark.parametrize(
    "path",
    [
        "/playground/router.py",
        "/playground/__init__.py",
        "/playground/README.md",
        "/playground/nope.js",
        "/playground/%2e%2e%2fapi%2fapp.py",
        "/playground/..%2F__init__.py",
    ],
)
def test_only_the_page_files_are_served(http: httpx.Client, path: str) -> None:
    r = http.get(path)
    assert r.status_code == 404, (path, r.status_code)
    assert "error" in r.json()
