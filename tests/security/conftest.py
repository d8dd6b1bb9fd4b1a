"""A live server on its safe defaults (no webhook allow-list), with an LLM double
(`client` and `api_key` come from tests/conftest.py, on this `server`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.doubles.llm_server import LLMServer
from tests.harness import ServerThread, fresh_database_url, server_settings
from tests.net.webserver import WebServer
from tests.stream import conftest as stream_conftest

llm = stream_conftest.llm  # the LLM double, one per package, reset before each test
_reset_llm = stream_conftest._reset_llm


@pytest.fixture(scope="package")
def server(llm: LLMServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    tmp = tmp_path_factory.mktemp("secure")
    settings = server_settings(
        fresh_database_url("sqlite", tmp), tmp, llm_base_url=llm.base_url, llm_model="m"
    )
    with ServerThread(settings) as srv:
        yield srv


@pytest.fixture
def internal() -> Iterator[WebServer]:
    """An internal service on loopback holding a secret (what SSRF would read)."""
    web = WebServer()
    web.answer = (200, {"Content-Type": "application/json"}, b'{"status": "s3cr3t-internal"}')
    yield web
    web.close()
