"""A live server wired to the LLM double (as in tests/stream), and SDK clients on it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import numpy as np
import pytest

from parley.audio.wav import write_wav
from parley.client import AsyncParley, Parley
from tests.client.proxy import TcpProxy
from tests.doubles.llm_server import LLMServer
from tests.harness import ServerThread, llm_backed_server
from tests.speech import silence, speak

VOICE = "espeak-en-us-female"
QUESTION = "What is the weather like in Paris today?"
LOOKUP = {
    "name": "lookup_order",
    "description": "Look up an order by its ID",
    "parameters": {"order_id": {"type": "string", "required": True}},
}


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
    with llm_backed_server(llm.base_url, tmp_path_factory.mktemp("client")) as srv:
        yield srv


@pytest.fixture
def parley(server: ServerThread, api_key: str) -> Iterator[Parley]:
    with Parley(base_url=server.url, api_key=api_key) as client:
        yield client


@pytest.fixture
async def aparley(server: ServerThread, api_key: str) -> AsyncIterator[AsyncParley]:
    async with AsyncParley(base_url=server.url, api_key=api_key) as client:
        yield client


@pytest.fixture
def proxy(server: ServerThread) -> Iterator[TcpProxy]:
    with TcpProxy(server.port) as p:
        yield p


@pytest.fixture(scope="package")
def question_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The spoken question, 0.3 s of silence before it, as a 16 kHz WAV file."""
    path = tmp_path_factory.mktemp("wav") / "question.wav"
    write_wav(path, np.concatenate([silence(0.3), speak(QUESTION)]), 16000)
    return path
