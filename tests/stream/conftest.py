"""A live server wired to an OpenAI-compatible LLM double, for stream tests."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.doubles.llm_server import LLMServer
from tests.harness import ServerThread, llm_backed_server


@pytest.fixture(scope="package")
def llm() -> Iterator[LLMServer]:
    with LLMServer() as server:
        yield server


@pytest.fixture(autouse=True)
def _reset_llm(llm: LLMServer) -> Iterator[None]:
    llm.reset()
    yield


@pytest.fixture(scope="package")
def server(llm: LLMServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    # A stalled LLM fails its turn after 4 s here (PARLEY_LLM_FIRST_TOKEN_TIMEOUT_S; 15 s
    # by default): the double answers at once otherwise.
    with llm_backed_server(
        llm.base_url, tmp_path_factory.mktemp("stream"), llm_first_token_timeout_s=4.0
    ) as srv:
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
