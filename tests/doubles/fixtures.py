"""Pytest fixtures for the doubles.

Use them from a test module with `from tests.doubles.fixtures import llm_server`, or
everywhere by adding `pytest_plugins = ["tests.doubles.fixtures"]` to `tests/conftest.py`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.doubles.llm_server import LLMServer


@pytest.fixture
def llm_server() -> Iterator[LLMServer]:
    """A running OpenAI-compatible server double (echo responder), for sync and async tests."""
    server = LLMServer().start()
    try:
        yield server
    finally:
        server.stop(wait=False)  # its own port, so no need to wait for it to wind down
