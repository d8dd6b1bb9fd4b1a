"""Values the conversation keeps about the turn in progress, and its transport side."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import numpy as np

from parley.engine import events as ev
from parley.engine.reply import Reply


class Sink(Protocol):
    """The transport side of a conversation."""

    out_rate: int

    async def event(self, event: ev.Event) -> None: ...

    async def audio(self, samples: np.ndarray) -> None: ...


@dataclass
class UserTurn:
    """The user turn being heard."""

    started_at: datetime
    start_ms: int
    last_voiced_ms: int = 0
    speech_end_clock: float = 0.0  # clock time the user went quiet
    eot_clock: float = 0.0
    stt_final_clock: float = 0.0
    hold_ms: float = 0.0  # the ready reply waited this long before its first audio
    # Final transcripts of the turn's segments: a turn decided too early and taken up
    # again by the user (before any reply audio) is one turn of several segments.
    segments: list[asyncio.Task[str]] = field(default_factory=list)
    committed: bool = False


@dataclass
class Pending:
    """The reply in progress and what the latency breakdown needs about its turn."""

    task: asyncio.Task[None]
    reply: Reply | None = None
    origin_clock: float = 0.0  # user speech end (or injection time)
    user: UserTurn | None = None
    tool_log: list[dict[str, Any]] = field(default_factory=list)


def latency_breakdown(reply: Reply, pending: Pending | None) -> dict[str, Any]:
    """The per-turn latency breakdown stored in the assistant turn's metadata: clock
    milestones in ms from the user's speech end (or the injection), plus the LLM's own
    time to first token."""
    if pending is None:
        return {}
    t = reply.timings
    origin = pending.origin_clock

    def since(mark: float | None) -> int | None:
        return None if mark is None else int((mark - origin) * 1000)

    latency: dict[str, Any] = {
        "llm_first_token_ms": since(t.llm_first_token),
        "tts_first_audio_ms": since(t.tts_first_audio),
        "first_audio_sent_ms": since(t.first_audio_sent),
    }
    if pending.user is not None:
        latency["end_of_turn_ms"] = since(pending.user.eot_clock)
        latency["stt_final_ms"] = since(pending.user.stt_final_clock)
        # deliberate: the reply was ready and waited (the speaking gap, resumed speech)
        latency["first_audio_hold_ms"] = int(pending.user.hold_ms)
    if t.llm_first_token is not None:
        latency["llm_ttft_ms"] = int((t.llm_first_token - t.started) * 1000)
    return {"latency": {k: v for k, v in latency.items() if v is not None}}
