"""What every request handler can reach: settings, store, voices, live streams, providers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import HTTPConnection

from parley.config import Settings
from parley.store import Store
from parley.transports.registry import LiveStreams
from parley.voices import VoiceCatalogue


@dataclass
class ServerContext:
    settings: Settings
    store: Store
    voices: VoiceCatalogue
    live: LiveStreams = field(default_factory=LiveStreams)
    # Languages the configured speech-to-text handles (None: no restriction known).
    stt_languages: frozenset[str] | None = None
    stt_name: str = ""
    runtime: Any = None  # engine.runtime.Runtime: models and providers, set at start-up
    sessions: Any = None  # engine.sessions.SessionManager: the live conversations


def get_context(conn: HTTPConnection) -> ServerContext:
    ctx: ServerContext = conn.app.state.ctx
    return ctx
