"""Live servers for the protocol tests: the stream tests' LLM double and server."""

from __future__ import annotations

from tests.stream.conftest import _reset_llm, client, llm, server

__all__ = ["_reset_llm", "client", "llm", "server"]
