"""Per-module providers for the engine tests (see `harness.py`).

Each test module runs on one event loop (`pytestmark = pytest.mark.asyncio(loop_scope=
"module")`), so the pocketsphinx pool, the models and the LLM client load once per module.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import pytest_asyncio

from parley.providers.llm.openai_chat import OpenAIChatLLM
from parley.providers.stt.pocketsphinx import PocketsphinxSTT
from parley.providers.tts.espeak import EspeakTTS
from parley.providers.turn.smart_turn import SmartTurn
from parley.providers.vad.silero import SileroVAD
from parley.store import Store
from tests.doubles.llm_server import LLMServer, echo_responder
from tests.engine.harness import Providers
from tests.speech import speak

MALE, FEMALE = "espeak-en-us-male", "espeak-en-us-female"


def synthesize(lines: dict[str, tuple[str, str]]) -> dict[str, np.ndarray]:
    """Test utterances by name, from (text, voice): one espeak process each, two at a time."""
    with ThreadPoolExecutor(2) as pool:
        audio = pool.map(lambda line: speak(*line), lines.values())
        return dict(zip(lines, audio, strict=True))


@pytest.fixture(scope="module")
def llm_server() -> Iterator[LLMServer]:
    with LLMServer() as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh_llm(llm_server: LLMServer) -> Iterator[None]:
    llm_server.responder = echo_responder
    llm_server.first_token_delay = 0.0
    llm_server.chunk_delay = 0.0
    llm_server._queued.clear()
    llm_server.requests.clear()
    yield


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def providers(
    llm_server: LLMServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Providers]:
    tmp: Path = tmp_path_factory.mktemp("engine")
    # One worker: the STT barrier below relies on every stream sharing it.
    stt = PocketsphinxSTT(workers=1)
    vad = SileroVAD()
    turn = SmartTurn()
    await asyncio.gather(stt.start(), asyncio.to_thread(vad.load), asyncio.to_thread(turn.load))
    store = await Store.open(f"sqlite+aiosqlite:///{tmp / 'engine.db'}")
    llm = OpenAIChatLLM(llm_server.base_url, "test-model")
    probe = await stt.open("en")
    noise = np.random.default_rng(0).integers(-3, 4, 1600).astype(np.int16)
    lock = asyncio.Lock()

    async def barrier() -> None:
        """Returns once the worker has decoded everything sent to it before: its
        messages are handled in order, and so are its replies."""
        async with lock:
            probe.feed(noise)
            await probe.finish()

    yield Providers(vad, turn, stt, EspeakTTS(), llm, store, barrier)
    await probe.close()
    await llm.aclose()
    await store.close()
    await stt.close()
