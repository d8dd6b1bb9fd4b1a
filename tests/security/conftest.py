"""A live server on its safe defaults (no webhook allow-list), with an LLM double."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.doubles.llm_server import LLMServer
from tests.harness import ServerThread, fresh_database_url, server_settings
from tests.net.webserver import WebServer


@pytest.fixture(scope="module")
def llm() -> Iterator[LLMServer]:
    with LLMServer() as server:
        yield server


@pytest.fixture(autouse=True)
def _reset_llm(llm: LLMServer) -> Iterator[None]:
    llm.reset()
    yield


@pytest.fixture(scope="module")
def server(llm: LLMServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    tmp = tmp_path_factory.mktemp("secure")
    settings = server_settings(
        fresh_database_url("sqlite", tmp), tmp, llm_base_url=llm.base_url, llm_model="m"
    )
    with ServerThread(settings) as srv:
        yield srv


@pytest.fixture
def client(server: ServerThread, api_key: str) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30
    ) as c:
        yield c


@pytest.fixture
def internal() -> Iterator[WebServer]:
    """An internal service on loopback holding a secret (what SSRF would read)."""
    web = WebServer()
    web.answer = (200, {"Content-Type": "application/json"}, b'{"status": "s3cr3t-internal"}')
    yield web
    web.close()
