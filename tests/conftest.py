"""Shared fixtures: a live server per test module and backend, and per-test clients."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.harness import POSTGRES_URL, ServerThread, fresh_database_url, server_settings
from tests.llm_fixtures import embedded_llm, embedded_server  # noqa: F401  (session-wide)

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if POSTGRES_URL:
        return
    skip = pytest.mark.skip(reason="PARLEY_TEST_POSTGRES_URL not set (.ci/run sets it)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def server(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    tmp = tmp_path_factory.mktemp("server")
    settings = server_settings(fresh_database_url(backend, tmp), tmp)
    with ServerThread(settings) as srv:
        yield srv


@pytest.fixture
def api_key(server: ServerThread) -> str:
    return server.new_key()


@pytest.fixture
def client(server: ServerThread, api_key: str) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30
    ) as c:
        yield c


@pytest.fixture
def tmp_dir(tmp_path: Path) -> Path:
    return tmp_path
