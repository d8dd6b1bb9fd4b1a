"""What every request handler can reach: settings, store, live streams, the engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from starlette.requests import HTTPConnection

from parley.api.limits import StreamSlots, TokenBucket
from parley.config import Settings
from parley.engine.runtime import Runtime
from parley.engine.sessions import SessionManager
from parley.net.outbound import OutboundPolicy
from parley.net.secrets import SecretBox
from parley.store import Store
from parley.transports.registry import LiveStreams
from parley.voices import VoiceCatalogue


@dataclass
class ServerContext:
    settings: Settings
    store: Store
    runtime: Runtime  # models and providers, built once at start-up
    sessions: SessionManager  # the live conversations
    live: LiveStreams = field(default_factory=LiveStreams)

    @cached_property
    def secrets(self) -> SecretBox:
        """Encrypts webhook header secrets (PARLEY_SECRET_KEY or data_dir/secret.key)."""
        return SecretBox.from_settings(self.settings)

    @cached_property
    def rate(self) -> TokenBucket:
        """REST requests per account (PARLEY_RATE_LIMIT_PER_S, PARLEY_RATE_LIMIT_BURST)."""
        return TokenBucket(self.settings.rate_limit_per_s, self.settings.rate_limit_burst)

    @cached_property
    def stream_slots(self) -> StreamSlots:
        return StreamSlots(self.settings.max_streams_per_account, self.settings.max_streams)

    @cached_property
    def outbound(self) -> OutboundPolicy:
        return OutboundPolicy.from_settings(self.settings)

    @property
    def voices(self) -> VoiceCatalogue:
        return self.runtime.voices

    @property
    def stt_languages(self) -> frozenset[str] | None:
        """Languages the configured speech-to-text handles (None: no restriction known)."""
        return self.runtime.stt.languages

    @property
    def stt_name(self) -> str:
        return self.runtime.stt.name


def get_context(conn: HTTPConnection) -> ServerContext:
    ctx: ServerContext = conn.app.state.ctx
    return ctx
