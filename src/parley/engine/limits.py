"""How long a live conversation may last: idle, in all, and past its expiry.

Three clocks, each ending the conversation with its reason (`session_ended`)::

    started ─────────────────────────────────────────────▶ max_duration_s: "max_duration"
    ... LISTENING since t ──── nobody spoke, typed or was answered ──▶ t + idle_timeout_s: "idle"
    ... the record's expires_at (agent sessions) ────────────────────▶ "expired"

"Idle" is read from the state machine: the conversation has stayed in LISTENING (no user
speech, no typed turn, no reply) since its last transition. Audio that is only silence,
and `keep_alive`, are not activity. The per-session settings `idle_timeout_s` and
`max_duration_s` may shorten the server's limits (`PARLEY_SESSION_IDLE_TIMEOUT_S`,
`PARLEY_SESSION_MAX_DURATION_S`), never lengthen them: an API key cannot hold a session
open longer than the operator allows.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from parley.clock import Clock
from parley.engine.state import State, Transition
from parley.timeutil import utcnow

if TYPE_CHECKING:
    from parley.engine.runtime import Runtime
    from parley.store.records import ConversationRecord


@dataclass(frozen=True)
class SessionLimits:
    idle_timeout_s: float = 600.0
    max_duration_s: float = 3600.0
    # One user turn (its speech, pauses inside it included) is ended and answered once it
    # has lasted this long: the recogniser's buffer, and a noise that never stops, are
    # bounded (engine/conversation.py `_cap_turn`).
    max_utterance_s: float = 120.0

    def narrowed(self, settings: dict[str, Any]) -> SessionLimits:
        """These limits, or the session's own where they are shorter."""

        def pick(key: str, server: float) -> float:
            value = settings.get(key)
            return server if value is None else min(float(value), server)

        return SessionLimits(
            pick("idle_timeout_s", self.idle_timeout_s),
            pick("max_duration_s", self.max_duration_s),
            pick("max_utterance_s", self.max_utterance_s),
        )


class LimitsHost(Protocol):
    @property
    def state(self) -> State: ...

    def end(self, reason: str) -> Awaitable[None]: ...


class Watchdog:
    """Ends its host when one of its clocks runs out (`run`, one task per conversation).
    `observe` is a state-machine observer: each transition restarts the idle clock."""

    def __init__(
        self,
        host: LimitsHost,
        clock: Clock,
        limits: SessionLimits,
        started_at: datetime | None,
        expires_at: datetime | None,
    ) -> None:
        self._host = host
        self._clock = clock
        self.limits = limits
        now, wall = clock.now(), utcnow()
        started = (wall - started_at).total_seconds() if started_at else 0.0
        self._end_by = now + limits.max_duration_s - max(0.0, started)
        self._expires = now + (expires_at - wall).total_seconds() if expires_at else math.inf
        self._since = now  # the last transition

    @classmethod
    def of(cls, host: LimitsHost, runtime: Runtime, record: ConversationRecord) -> Watchdog:
        """The server's limits, narrowed by the session's settings."""
        limits = runtime.limits.narrowed(record.settings)
        return cls(host, runtime.clock, limits, record.started_at, record.expires_at)

    def observe(self, fact: object) -> None:
        if isinstance(fact, Transition):
            self._since = self._clock.now()

    def due(self) -> tuple[str, float]:
        """The clock that runs out first, and the seconds left on it (≤ 0: it has)."""
        now = self._clock.now()
        idle = (
            self._since + self.limits.idle_timeout_s
            if self._host.state is State.LISTENING
            else now + self.limits.idle_timeout_s  # not idle: look again by then
        )
        reason, at = min(
            (("expired", self._expires), ("max_duration", self._end_by), ("idle", idle)),
            key=lambda pair: pair[1],
        )
        return reason, at - now

    async def run(self) -> None:
        while True:
            reason, left = self.due()
            if left <= 0:
                await self._host.end(reason)
                return
            await self._clock.sleep(left)
