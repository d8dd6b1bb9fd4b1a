"""Who may read `GET /metrics` (`PARLEY_METRICS`, `PARLEY_METRICS_TOKEN`): by default any
API key of the server, never nobody; with a metrics token only that token; `public`
anyone; `off` no one (404). Errors in the API's shape."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness import ServerThread, fresh_database_url, server_settings


def own_server(tmp: Path, **settings: Any) -> Iterator[ServerThread]:
    with ServerThread(server_settings(fresh_database_url("sqlite", tmp), tmp, **settings)) as s:
        yield s


@pytest.fixture(scope="module")
def with_token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    yield from own_server(tmp_path_factory.mktemp("m"), metrics_token="scrape-secret-123")


def get(server: ServerThread, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(f"{server.url}/metrics", headers=headers, timeout=10)


def test_by_default_an_api_key_reads_them(server: ServerThread, api_key: str) -> None:
    assert "parley_turns_total" in get(server, api_key).text
    for token in (None, "prl_not-a-key"):
        r = get(server, token)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert r.json()["error"]["type"] == "authentication_error", r.text


def test_a_metrics_token_is_the_only_way_in(with_token: ServerThread) -> None:
    assert get(with_token, "scrape-secret-123").status_code == 200
    assert get(with_token, with_token.new_key()).status_code == 401  # an API key is not it
    assert get(with_token).status_code == 401


def test_public_and_off(tmp_path: Path) -> None:
    for server in own_server(tmp_path / "p", metrics="public"):
        assert get(server).status_code == 200
    for server in own_server(tmp_path / "o", metrics="off"):
        r = get(server, server.new_key())
        assert r.status_code == 404 and "PARLEY_METRICS" in r.json()["error"]["message"]


def test_the_sample_dashboard_reads_only_metrics_that_exist() -> None:
    """docs/grafana-dashboard.json: valid JSON, and every series it asks for is exported."""
    import json
    import re

    from parley.metrics import Metrics

    path = Path(__file__).resolve().parents[2] / "docs" / "grafana-dashboard.json"
    dashboard = json.loads(path.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {name for e in exprs for name in re.findall(r"parley_\w+", e)}
    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"], "gauge": [""]}
    exported = {
        family.name + suffix
        for family in Metrics().registry.collect()
        for suffix in suffixes[family.type]
    }
    assert used and used <= exported, used - exported
