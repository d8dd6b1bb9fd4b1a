"""Schemathesis against the app's own OpenAPI schema: no 5xx, and every error in the
documented shape `{"error": {"type", "message", "param"}}`. Bounded: a few examples per
operation, so it runs in seconds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.harness import ServerThread, fresh_database_url, server_settings

EXAMPLES = 25


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    s = server_settings(
        fresh_database_url("sqlite", tmp), tmp, rate_limit_per_s=10_000, rate_limit_burst=10_000
    )
    with ServerThread(s) as srv:
        yield srv


def check_response(srv: ServerThread, key: str, case: schemathesis.Case) -> int:
    response = case.call(base_url=srv.url, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code < 500, (case.method, case.formatted_path, response.text)
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error"}, body
        assert set(body["error"]) == {"type", "message", "param"}, body
        assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return response.status_code


def test_no_5xx_and_errors_in_shape(fuzz_server: ServerThread) -> None:
    key = fuzz_server.new_key("fuzz")
    schema = schemathesis.openapi.from_url(f"{fuzz_server.url}/openapi.json")
    tried = 0

    for operation in schema.get_all_operations():
        op = operation.ok()
        strategy = op.as_strategy()

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def run(case: schemathesis.Case) -> None:
            nonlocal tried
            tried += 1
            check_response(fuzz_server, key, case)

        run()
    assert tried >= 5 * EXAMPLES
    # and without a key, or with a wrong one: 401 in the same shape
    r = httpx.get(f"{fuzz_server.url}/v1/agents", headers={"Authorization": "Bearer x"})
    assert r.status_code == 401 and set(r.json()["error"]) == {"type", "message", "param"}
