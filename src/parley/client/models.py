"""Typed results of the REST API, parsed from its JSON.

Every model keeps the JSON it came from in `raw` (fields a newer server adds are there);
timestamps are timezone-aware `datetime`s (None when the server sent none).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from parley.client.errors import INVALID_RESPONSE, ParleyError

JSON = dict[str, Any]


def _dt(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _obj(data: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise ParleyError(None, INVALID_RESPONSE, f"expected a JSON object for {what}")
    return data


def _req(data: Mapping[str, Any], key: str, what: str) -> Any:
    if key not in data:
        raise ParleyError(None, INVALID_RESPONSE, f"{what} without {key!r}")
    return data[key]


@dataclass(frozen=True)
class Tool:
    """A tool definition. `create` answers with tool names only (the other fields None);
    `get` returns the stored definition, its parameters as JSON Schema."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    endpoint: dict[str, Any] | None = None

    @classmethod
    def from_json(cls, data: Any) -> Tool:
        if isinstance(data, str):
            return cls(name=data)
        d = _obj(data, "a tool")
        return cls(
            name=str(_req(d, "name", "a tool")),
            description=d.get("description"),
            parameters=d.get("parameters"),
            endpoint=d.get("endpoint"),
        )

    def to_json(self) -> JSON:
        out: JSON = {"name": self.name, "description": self.description or ""}
        out["parameters"] = self.parameters or {"type": "object", "properties": {}}
        if self.endpoint is not None:
            out["endpoint"] = self.endpoint
        return out


@dataclass(frozen=True)
class Turn:
    """One stored turn of a conversation's history."""

    turn_id: str
    role: str
    text: str
    timestamp: datetime | None
    duration_ms: int
    latency_ms: int | None = None
    interrupted: bool | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any) -> Turn:
        d = _obj(data, "a turn")
        return cls(
            turn_id=str(_req(d, "turn_id", "a turn")),
            role=str(d.get("role", "")),
            text=str(d.get("text", "")),
            timestamp=_dt(d.get("timestamp")),
            duration_ms=int(d.get("duration_ms") or 0),
            latency_ms=d.get("latency_ms"),
            interrupted=d.get("interrupted"),
            metadata=dict(d.get("metadata") or {}),
        )


@dataclass(frozen=True)
class Conversation:
    """A conversation session. From `create`: the configuration (no history, no system
    prompt); from `get`: everything, with the full `history`."""

    session_id: str
    status: str  # "ready" | "active" | "ended" (| "expired" for agent sessions)
    voice_id: str
    language: str
    context_window: int
    max_turns: int | None
    tools: list[Tool]
    created_at: datetime | None
    websocket_url: str
    system_prompt: str | None = None
    total_turns: int = 0
    last_activity_at: datetime | None = None
    history: list[Turn] = field(default_factory=list)
    agent_id: str | None = None
    metadata: dict[str, Any] | None = None
    expires_at: datetime | None = None
    ended_at: datetime | None = None
    raw: JSON = field(default_factory=dict, repr=False, compare=False)

    @property
    def tool_names(self) -> list[str]:
        return [t.name for t in self.tools]

    @property
    def last_turn_id(self) -> str | None:
        """The id of the last stored turn (None without history)."""
        return self.history[-1].turn_id if self.history else None

    @classmethod
    def from_json(cls, data: Any) -> Conversation:
        d = _obj(data, "a conversation")
        return cls(
            session_id=str(_req(d, "session_id", "a conversation")),
            status=str(d.get("status", "")),
            voice_id=str(d.get("voice_id", "")),
            language=str(d.get("language", "")),
            context_window=int(d.get("context_window") or 0),
            max_turns=d.get("max_turns"),
            tools=[Tool.from_json(t) for t in d.get("tools") or []],
            created_at=_dt(d.get("created_at")),
            websocket_url=str(d.get("websocket_url", "")),
            system_prompt=d.get("system_prompt"),
            total_turns=int(d.get("total_turns") or 0),
            last_activity_at=_dt(d.get("last_activity_at")),
            history=[Turn.from_json(t) for t in d.get("history") or []],
            agent_id=d.get("agent_id"),
            metadata=d.get("metadata"),
            expires_at=_dt(d.get("expires_at")),
            ended_at=_dt(d.get("ended_at")),
            raw=dict(d),
        )


@dataclass(frozen=True)
class ConversationEnded:
    """The answer to `DELETE /v1/conversations/{id}` (idempotent)."""

    session_id: str
    status: str
    total_turns: int
    total_duration_ms: int
    ended_at: datetime | None
    raw: JSON = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> ConversationEnded:
        d = _obj(data, "an ended conversation")
        return cls(
            session_id=str(_req(d, "session_id", "an ended conversation")),
            status=str(d.get("status", "")),
            total_turns=int(d.get("total_turns") or 0),
            total_duration_ms=int(d.get("total_duration_ms") or 0),
            ended_at=_dt(d.get("ended_at")),
            raw=dict(d),
        )


@dataclass(frozen=True)
class StreamToken:
    """A short-lived token that opens one session's stream (for browsers)."""

    token: str
    session_id: str
    expires_at: datetime | None
    websocket_url: str
    raw: JSON = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> StreamToken:
        d = _obj(data, "a stream token")
        return cls(
            token=str(_req(d, "token", "a stream token")),
            session_id=str(d.get("session_id", "")),
            expires_at=_dt(d.get("expires_at")),
            websocket_url=str(d.get("websocket_url", "")),
            raw=dict(d),
        )


@dataclass(frozen=True)
class Agent:
    """A reusable persona: voice, prompt, language, tools and turn limit."""

    id: str
    name: str
    voice_id: str
    system_prompt: str
    language: str
    tools: list[Tool]
    max_turns: int | None
    status: str
    created_at: datetime | None
    settings: dict[str, Any] | None = None  # its sessions' settings (None: the defaults)
    # set by `agents.update(..., end_sessions=True)` / `pause`: the sessions it ended
    terminated_sessions: list[str] | None = None
    raw: JSON = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> Agent:
        d = _obj(data, "an agent")
        return cls(
            id=str(_req(d, "id", "an agent")),
            name=str(d.get("name", "")),
            voice_id=str(d.get("voice_id", "")),
            system_prompt=str(d.get("system_prompt", "")),
            language=str(d.get("language", "")),
            tools=[Tool.from_json(t) for t in d.get("tools") or []],
            max_turns=d.get("max_turns"),
            status=str(d.get("status", "")),
            created_at=_dt(d.get("created_at")),
            settings=d.get("settings"),
            terminated_sessions=d.get("terminated_sessions"),
            raw=dict(d),
        )


@dataclass(frozen=True)
class AgentPage:
    """One page of `GET /v1/agents` (newest first). Iterating it yields its agents."""

    data: list[Agent]
    total: int
    limit: int
    offset: int
    has_more: bool

    @property
    def next_offset(self) -> int | None:
        """The `offset` of the next page, or None on the last one."""
        return self.offset + len(self.data) if self.has_more and self.data else None

    def __iter__(self) -> Iterator[Agent]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    @classmethod
    def from_json(cls, data: Any) -> AgentPage:
        d = _obj(data, "a page of agents")
        return cls(
            data=[Agent.from_json(a) for a in d.get("data") or []],
            total=int(d.get("total") or 0),
            limit=int(d.get("limit") or 0),
            offset=int(d.get("offset") or 0),
            has_more=bool(d.get("has_more")),
        )


@dataclass(frozen=True)
class AgentDeleted:
    """The answer to `DELETE /v1/agents/{id}`: the sessions it ended."""

    id: str
    status: str
    terminated_sessions: list[str]

    @classmethod
    def from_json(cls, data: Any) -> AgentDeleted:
        d = _obj(data, "a deleted agent")
        return cls(
            id=str(_req(d, "id", "a deleted agent")),
            status=str(d.get("status", "")),
            terminated_sessions=[str(s) for s in d.get("terminated_sessions") or []],
        )


@dataclass(frozen=True)
class AgentSession:
    """A session of an agent: a conversation (stream it with `conversations.stream`)."""

    session_id: str
    agent_id: str
    websocket_url: str
    created_at: datetime | None
    expires_at: datetime | None
    status: str
    metadata: dict[str, Any] | None = None
    initial_message: str | None = None
    raw: JSON = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> AgentSession:
        d = _obj(data, "an agent session")
        return cls(
            session_id=str(_req(d, "session_id", "an agent session")),
            agent_id=str(d.get("agent_id", "")),
            websocket_url=str(d.get("websocket_url", "")),
            created_at=_dt(d.get("created_at")),
            expires_at=_dt(d.get("expires_at")),
            status=str(d.get("status", "")),
            metadata=d.get("metadata"),
            initial_message=d.get("initial_message"),
            raw=dict(d),
        )


@dataclass(frozen=True)
class Voice:
    """A catalogue voice; its `voice_id` is what conversations and agents take."""

    voice_id: str
    name: str
    language: str | None
    engine: str
    locale: str | None = None
    gender: str | None = None

    @classmethod
    def from_json(cls, data: Any) -> Voice:
        d = _obj(data, "a voice")
        return cls(
            voice_id=str(_req(d, "voice_id", "a voice")),
            name=str(d.get("name", "")),
            language=d.get("language"),
            engine=str(d.get("engine", "")),
            locale=d.get("locale"),
            gender=d.get("gender"),
        )


def voice_list(data: Any) -> list[Voice]:
    return [Voice.from_json(v) for v in _obj(data, "a voice list").get("data") or []]
