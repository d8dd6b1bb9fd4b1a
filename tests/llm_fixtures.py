"""The real embedded LLM for tests: one server with PARLEY_LLM=embedded, loaded once.

`embedded_server` is a live server (session-scoped) whose runtime loaded the bundled
SmolLM2-135M GGUF; `embedded_llm` is that same provider, for tests that call it directly
(the worker serves any event loop that submits to it), so the model loads once per run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from parley.providers.llm.embedded import EmbeddedLLM
from tests.harness import ServerThread, fresh_database_url, server_settings

# Long enough that a reply is still being generated when a test cuts it.
EMBEDDED_MAX_TOKENS = 300


def _require_llama() -> None:
    if os.environ.get("PARLEY_SKIP_LLM") == "1":
        pytest.skip("PARLEY_SKIP_LLM=1: the embedded LLM was not installed")
    try:
        import llama_cpp  # noqa: F401
    except ImportError as e:  # a failure, not a skip: ./scripts/install.sh installs it
        pytest.fail(f"llama-cpp-python is missing ({e}): run ./scripts/install.sh dev")


@pytest.fixture(scope="session")
def embedded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    _require_llama()
    tmp = tmp_path_factory.mktemp("embedded")
    settings = server_settings(
        fresh_database_url("sqlite", tmp),
        tmp,
        llm="embedded",
        llm_max_tokens=EMBEDDED_MAX_TOKENS,
    )
    with ServerThread(settings) as srv:
        yield srv


@pytest.fixture(scope="session")
def embedded_llm(embedded_server: ServerThread) -> EmbeddedLLM:
    llm = embedded_server.app.state.ctx.runtime.llm
    assert isinstance(llm, EmbeddedLLM), llm
    return llm
