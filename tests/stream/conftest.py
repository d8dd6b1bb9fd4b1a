"""A live server wired to an OpenAI-compatible LLM double, for stream tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.doubles.llm_server import LLMServer
from tests.harness import ServerThread, fresh_database_url, server_settings


@pytest.fixture(scope="module")
def llm() -> Iterator[LLMServer]:
    with LLMServer() as server:
        yield server


@pytest.fixture(autouse=True)
def _reset_llm(llm: LLMServer) -> Iterator[None]:
    from tests.doubles.llm_server import echo_responder

    llm.responder = echo_responder
    llm.first_token_delay = 0.0
    llm.chunk_delay = 0.0
    yield


@pytest.fixture(scope="module")
def server(llm: LLMServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    tmp: Path = tmp_path_factory.mktemp("stream")
    settings = server_settings(
        fresh_database_url("sqlite", tmp), tmp, llm_base_url=llm.base_url, llm_model="test-model"
    )
    with ServerThread(settings) as srv:
        yield srv


@pytest.fixture
def client(server: ServerThread, api_key: str) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30
    ) as c:
        yield c


def new_conversation(client: httpx.Client, **fields: object) -> str:
    body = {
        "voice_id": "espeak-en-us-female",
        "system_prompt": "You are a helpful assistant.",
        **fields,
    }
    r = client.post("/v1/conversations/create", json=body)
    assert r.status_code == 200, r.text
    return str(r.json()["session_id"])
