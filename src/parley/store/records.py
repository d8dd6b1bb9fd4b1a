"""Values the store hands to the other layers (plain dataclasses, not ORM rows)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class ToolDef:
    """A tool, normalised: JSON-Schema parameters and an optional server-side endpoint."""

    name: str
    description: str
    parameters: dict[str, Any]
    endpoint: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters,
        }
        if self.endpoint is not None:
            out["endpoint"] = self.endpoint
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ToolDef:
        return cls(
            name=data["name"],
            description=data.get("description", ""),
            parameters=data.get("parameters") or {"type": "object", "properties": {}},
            endpoint=data.get("endpoint"),
        )


@dataclass(frozen=True)
class TurnRecord:
    seq: int
    turn_id: str
    role: str
    text: str
    timestamp: datetime
    duration_ms: int
    latency_ms: int | None = None
    interrupted: bool = False
    meta: dict[str, Any] | None = None


@dataclass(frozen=True)
class ConversationRecord:
    id: str
    account_id: str
    agent_id: str | None
    voice_id: str
    system_prompt: str
    language: str
    tools: tuple[ToolDef, ...]
    context_window: int
    max_turns: int | None
    status: str
    created_at: datetime
    last_activity_at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None
    expires_at: datetime | None = None
    metadata: dict[str, Any] | None = None
    initial_message: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    total_turns: int = 0

    @property
    def is_agent_session(self) -> bool:
        return self.agent_id is not None


@dataclass(frozen=True)
class AgentRecord:
    id: str
    account_id: str
    name: str
    voice_id: str
    system_prompt: str
    language: str
    tools: tuple[ToolDef, ...]
    max_turns: int | None
    status: str
    created_at: datetime
    settings: dict[str, Any] = field(default_factory=dict)  # its sessions' settings
