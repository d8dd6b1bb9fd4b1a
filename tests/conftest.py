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
    _group_for_workers(items)
    if POSTGRES_URL:
        return
    skip = pytest.mark.skip(reason="PARLEY_TEST_POSTGRES_URL not set (.ci/run sets it)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


# Real-time audio whose timing is the point (latency bounds, paced playback, the yield):
# under pytest-xdist these run one at a time (a test module can also say
# `pytestmark = pytest.mark.realtime`).
REALTIME_MODULES = {
    "tests/stream/test_conversation.py",
    "tests/stream/test_turn_taking.py",
    "tests/stream/test_barge_in.py",
    "tests/stt/test_pocketsphinx.py",
    "tests/llm/test_embedded_conversation.py",
    "tests/llm/test_embedded_playground.py",
    "tests/providers/test_llm_embedded.py",  # (its queue waits are timed)
    "tests/telephony/test_call.py",
    "tests/playground/test_playground_browser.py",
    "tests/test_bench.py",
}


def _group_for_workers(items: list[pytest.Item]) -> None:
    """With pytest-xdist (`-n 2 --dist loadgroup`, as scripts/test.sh runs the suite): a
    module's tests stay on one worker (they share its server), and the tests marked
    `realtime` (real-time audio whose timing is the point) run one at a time, on one
    worker, so that two of them never compete for the CPU."""
    for item in items:
        if item.get_closest_marker("xdist_group"):
            continue
        module = item.nodeid.split("::")[0]
        realtime = item.get_closest_marker("realtime") or module in REALTIME_MODULES
        if realtime:
            item.add_marker(pytest.mark.realtime)  # so `-m realtime` selects them
        item.add_marker(pytest.mark.xdist_group("realtime" if realtime else module))


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def server(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    """One server per backend for the test session (per xdist worker): starting one costs
    about 3 CPU-seconds (its models, its recogniser's worker processes). Tests stay apart
    by account (`api_key` is a new account's); a module that needs other settings starts
    its own."""
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
