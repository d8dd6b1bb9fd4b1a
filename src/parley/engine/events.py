"""What a conversation tells its transport: plain values, no wire format.

The native transport turns each into the seed's JSON event (`transports/native_events.py`);
other protocols may map them differently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SessionStarted:
    session_id: str
    resumed: bool = False


@dataclass(frozen=True)
class TurnStart:
    role: str  # "user" | "assistant"
    latency_ms: int | None = None  # assistant: user speech end → first audio sent
    # assistant: the turn's latency breakdown so far (`turns.latency_breakdown`), for
    # protocols that report it as the reply starts (Deepgram's AgentStartedSpeaking)
    breakdown: dict[str, int] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class TranscriptEvent:
    role: str
    text: str
    is_final: bool
    turn_id: str | None = None


@dataclass(frozen=True)
class TurnEnd:
    role: str
    turn_id: str | None  # None for a user turn that held no words (discarded)
    duration_ms: int
    interrupted: bool = False
    discarded: bool = False


@dataclass(frozen=True)
class Interrupted:
    turn_id: str
    played_ms: int


@dataclass(frozen=True)
class ReplyPaused:
    """Voice over the reply: hold playback (keep what is buffered) until resumed or cut."""

    played_ms: int


@dataclass(frozen=True)
class ReplyResumed:
    """It was a backchannel or a noise: play on. `from_ms` < `played_ms`: the pause cut a
    word, which is sent again from its start: drop what is held and play what comes."""

    played_ms: int
    from_ms: int | None = None  # where playback goes on (None: where it was held)


@dataclass(frozen=True)
class ErrorEvent:
    code: str
    message: str


def audio_too_fast(dropped_s: float) -> ErrorEvent:
    return ErrorEvent(
        "audio_too_fast",
        f"Audio is arriving faster than real time: {dropped_s:.1f} s of it was dropped "
        "unheard so far. Send audio as it is captured.",
    )


@dataclass(frozen=True)
class ToolCallEvent:
    call_id: str
    name: str
    arguments: Any


@dataclass(frozen=True)
class Ack:
    """A control message was accepted: `prompt_updated`, `voice_updated`, …"""

    kind: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SessionEnded:
    reason: str  # "max_turns" | "deleted" | "expired" | …


Event = (
    SessionStarted
    | TurnStart
    | TranscriptEvent
    | TurnEnd
    | Interrupted
    | ReplyPaused
    | ReplyResumed
    | ErrorEvent
    | ToolCallEvent
    | Ack
    | SessionEnded
)
