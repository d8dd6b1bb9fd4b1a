"""Stream events as typed, frozen objects: the server's JSON events plus the SDK's own.

Every event has `type` (the name handlers are registered under) and `raw` (the JSON it
came from; empty for the SDK's own events). Server events:

==========================  ===================================================
type                        class
==========================  ===================================================
``session_started``         `SessionStarted` (once per stream; see `Reconnected`)
``turn_start``              `TurnStart`
``transcript``              `Transcript`
``turn_end``                `TurnEnd`
``interrupted``             `Interrupted` (drop buffered playback now)
``tool_call``               `ToolCall`
``error``                   `ErrorEvent` (also the SDK's own failures)
``session_ended``           `SessionEnded`
``prompt_updated``          `PromptUpdated`
``voice_updated``           `VoiceUpdated`
``agent_message_injected``  `AgentMessageInjected`
==========================  ===================================================

The SDK's own: ``audio`` (`Audio`: the assistant's speech), ``disconnected``
(`Disconnected`: the link dropped, a reconnection follows), ``reconnected``
(`Reconnected`), ``close`` (`Close`: the stream is over, always the last event).
A server event this SDK does not know arrives as a plain `Event` (see `raw`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from parley.client.errors import ParleyError


@dataclass(frozen=True, kw_only=True)
class Event:
    type: str
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True, kw_only=True)
class SessionStarted(Event):
    type: str = "session_started"
    session_id: str
    resumed: bool = False


@dataclass(frozen=True, kw_only=True)
class TurnStart(Event):
    type: str = "turn_start"
    role: str
    latency_ms: int | None = None  # assistant turns: user speech end → first audio


@dataclass(frozen=True, kw_only=True)
class Transcript(Event):
    """`is_final` user and assistant transcripts carry the stored `turn_id`; non-final
    assistant ones give the text spoken so far."""

    type: str = "transcript"
    role: str
    text: str
    is_final: bool
    turn_id: str | None = None
    replayed: bool = False  # re-sent by the server after a reconnection


@dataclass(frozen=True, kw_only=True)
class TurnEnd(Event):
    type: str = "turn_end"
    role: str
    turn_id: str | None  # None (with discarded=True) when the speech held no words
    duration_ms: int = 0
    interrupted: bool | None = None  # assistant turns only
    discarded: bool = False
    replayed: bool = False


@dataclass(frozen=True, kw_only=True)
class Interrupted(Event):
    type: str = "interrupted"
    turn_id: str | None
    played_ms: int


@dataclass(frozen=True, kw_only=True)
class ReplyPaused(Event):
    """Speech over the reply: hold playback (keep the buffer) until resumed or interrupted."""

    type: str = "reply_paused"
    played_ms: int


@dataclass(frozen=True, kw_only=True)
class ReplyResumed(Event):
    """It was a backchannel or a noise: play on from where playback was held; if
    `from_ms` < `played_ms` the pause cut a word, whose audio comes again from its
    start: drop what you held and play what comes."""

    type: str = "reply_resumed"
    played_ms: int
    from_ms: int


@dataclass(frozen=True, kw_only=True)
class ToolCall(Event):
    """The model called a client-side tool: answer with `send_tool_result(call_id, …)`
    (done for you for tools registered with `stream.tool`)."""

    type: str = "tool_call"
    call_id: str
    name: str
    arguments: Any


@dataclass(frozen=True, kw_only=True)
class ErrorEvent(Event):
    """A server `error` event (`client_side=False`; the session goes on) or a failure in
    the SDK: a handler or tool raised, undecodable audio, a reconnection that gave up…
    (`client_side=True`, with the `exception` when there is one)."""

    type: str = "error"
    code: str
    message: str
    client_side: bool = False
    exception: BaseException | None = field(default=None, compare=False)

    def as_exception(self) -> ParleyError:
        """This error as the `ParleyError` that `wait_for` and iteration raise: `type` is
        the event's `code` (`llm_not_configured`, …), `message` its message, `status`
        None."""
        return ParleyError(None, self.code, self.message)


@dataclass(frozen=True, kw_only=True)
class SessionEnded(Event):
    type: str = "session_ended"
    reason: str  # "max_turns", "deleted", …


@dataclass(frozen=True, kw_only=True)
class PromptUpdated(Event):
    type: str = "prompt_updated"
    prompt: str


@dataclass(frozen=True, kw_only=True)
class VoiceUpdated(Event):
    type: str = "voice_updated"
    voice_id: str


@dataclass(frozen=True, kw_only=True)
class AgentMessageInjected(Event):
    type: str = "agent_message_injected"
    text: str


@dataclass(frozen=True, kw_only=True)
class Audio(Event):
    """A chunk of the assistant's speech: `data` as received (the stream's encoding) and
    `samples`, the same audio decoded to int16 mono at `sample_rate`."""

    type: str = "audio"
    data: bytes = field(repr=False)
    samples: np.ndarray = field(repr=False, compare=False)
    sample_rate: int

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate


@dataclass(frozen=True, kw_only=True)
class Disconnected(Event):
    type: str = "disconnected"
    code: int | None  # WebSocket close code (1006: the link broke without one)
    reason: str


@dataclass(frozen=True, kw_only=True)
class Reconnected(Event):
    """The stream is back after `attempts` tries; turns missed meanwhile follow as
    `replayed` transcripts and turn ends (each turn is still delivered once)."""

    type: str = "reconnected"
    session_id: str
    attempts: int
    last_turn_id: str | None  # what the SDK resumed from
    downtime_s: float


@dataclass(frozen=True, kw_only=True)
class Close(Event):
    """The stream is over; nothing follows. `error` says why when it was not a clean end
    (None after `close()` or `session_ended`)."""

    type: str = "close"
    code: int | None
    reason: str
    error: ParleyError | None = None


SERVER_EVENTS = (
    "session_started",
    "turn_start",
    "transcript",
    "turn_end",
    "interrupted",
    "reply_paused",
    "reply_resumed",
    "tool_call",
    "error",
    "session_ended",
    "prompt_updated",
    "voice_updated",
    "agent_message_injected",
)
CLIENT_EVENTS = ("audio", "disconnected", "reconnected", "close")
EVENT_TYPES = SERVER_EVENTS + CLIENT_EVENTS


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def parse_event(data: Mapping[str, Any]) -> Event:
    """A server JSON event as its typed object (unknown types as a plain `Event`)."""
    kind = str(data.get("type", ""))
    g = data.get
    match kind:
        case "session_started":
            return SessionStarted(
                raw=data, session_id=str(g("session_id", "")), resumed=bool(g("resumed"))
            )
        case "turn_start":
            latency = g("latency_ms")
            return TurnStart(
                raw=data,
                role=str(g("role", "")),
                latency_ms=None if latency is None else _int(latency),
            )
        case "transcript":
            return Transcript(
                raw=data,
                role=str(g("role", "")),
                text=str(g("text", "")),
                is_final=bool(g("is_final")),
                turn_id=_opt_str(g("turn_id")),
                replayed=bool(g("replayed")),
            )
        case "turn_end":
            cut = g("interrupted")
            return TurnEnd(
                raw=data,
                role=str(g("role", "")),
                turn_id=_opt_str(g("turn_id")),
                duration_ms=_int(g("duration_ms")),
                interrupted=None if cut is None else bool(cut),
                discarded=bool(g("discarded")),
                replayed=bool(g("replayed")),
            )
        case "interrupted":
            return Interrupted(
                raw=data, turn_id=_opt_str(g("turn_id")), played_ms=_int(g("played_ms"))
            )
        case "reply_paused":
            return ReplyPaused(raw=data, played_ms=_int(g("played_ms")))
        case "reply_resumed":
            played = _int(g("played_ms"))
            return ReplyResumed(raw=data, played_ms=played, from_ms=_int(g("from_ms"), played))
        case "tool_call":
            return ToolCall(
                raw=data,
                call_id=str(g("call_id", "")),
                name=str(g("name", "")),
                arguments=g("arguments"),
            )
        case "error":
            return ErrorEvent(raw=data, code=str(g("code", "")), message=str(g("message", "")))
        case "session_ended":
            return SessionEnded(raw=data, reason=str(g("reason", "")))
        case "prompt_updated":
            return PromptUpdated(raw=data, prompt=str(g("prompt", "")))
        case "voice_updated":
            return VoiceUpdated(raw=data, voice_id=str(g("voice_id", "")))
        case "agent_message_injected":
            return AgentMessageInjected(raw=data, text=str(g("text", "")))
    return Event(type=kind, raw=data)


E = TypeVar("E", bound=Event)


def event_name(kind: str | type[Event]) -> str:
    """The `type` string of an event class (`Transcript` → "transcript"), or `kind`."""
    if isinstance(kind, str):
        return kind
    default = kind.__dataclass_fields__["type"].default
    if not isinstance(default, str) or kind is Event:
        raise ValueError(f"{kind.__name__} is not a specific event class")
    return default


def matches(event: Event, fields: Mapping[str, Any]) -> bool:
    """Whether every `fields` item equals the event's attribute (or raw JSON field)."""
    missing = object()
    for key, want in fields.items():
        have = getattr(event, key, missing)
        if have is missing:
            have = event.raw.get(key, missing)
        if have is missing or have != want:
            return False
    return True
