"""A live server with the playground mounted, wired to the OpenAI-compatible LLM double."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from parley.playground import router as playground
from tests.doubles.llm_server import LLMServer
from tests.harness import ServerThread, fresh_database_url, server_settings


@pytest.fixture(scope="package")
def llm() -> Iterator[LLMServer]:
    with LLMServer() as server:
        yield server


@pytest.fixture(scope="package")
def server(llm: LLMServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    tmp: Path = tmp_path_factory.mktemp("playground")
    settings = server_settings(
        fresh_database_url("sqlite", tmp), tmp, llm_base_url=llm.base_url, llm_model="test-model"
    )
    with mount_playground(ServerThread(settings)) as srv:
        yield srv


def mount_playground(srv: ServerThread) -> ServerThread:
    """The playground's routes on a not yet started server, unless the app has them."""
    if not any(getattr(r, "path", "") == "/playground" for r in srv.app.routes):
        srv.app.include_router(playground.router)
    return srv
