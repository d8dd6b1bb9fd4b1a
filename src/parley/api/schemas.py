"""Request and response bodies of the REST API (Pydantic; these drive the OpenAPI doc)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Request(BaseModel):
    # Unknown fields are refused (a typo such as "max_turn" must not pass silently),
    # and types are not coerced ("5" is not an integer).
    model_config = ConfigDict(extra="forbid", strict=True)


class SessionSettings(_Request):
    """Per-session knobs of live behaviour (all optional)."""

    tool_hold_ms: int = Field(1500, ge=0, le=60_000, description="Hold line after this wait.")
    tool_timeout_ms: int = Field(10_000, ge=100, le=300_000, description="A tool call fails after.")
    max_tool_rounds: int = Field(3, ge=0, le=10, description="Tool rounds per user turn.")


class ConversationCreate(_Request):
    voice_id: str = Field(min_length=1, max_length=200, description="See GET /v1/voices.")
    system_prompt: str = Field(min_length=1, max_length=100_000)
    language: str = Field("en", description="ISO 639-1 code.")
    tools: list[Any] | None = Field(None, description="Tool definitions (see README).")
    context_window: int = Field(50, ge=1, le=100_000, description="Turns kept in context.")
    max_turns: int | None = Field(
        None, ge=1, le=1_000_000, description="Turn limit; null = unlimited."
    )
    settings: SessionSettings | None = None


class AgentCreate(_Request):
    name: str = Field(min_length=1, max_length=200)
    voice_id: str = Field(min_length=1, max_length=200)
    system_prompt: str = Field(min_length=1, max_length=100_000)
    language: str = "en"
    tools: list[Any] | None = None
    max_turns: int | None = Field(50, ge=1, le=1_000_000)


class AgentSessionCreate(_Request):
    metadata: dict[str, Any] | None = None
    initial_message: str | None = Field(None, min_length=1, max_length=4000)


class ToolOut(BaseModel):
    name: str
    description: str
    parameters: dict[str, Any]
    endpoint: dict[str, Any] | None = None


class ConversationCreated(BaseModel):
    session_id: str
    status: str
    voice_id: str
    language: str
    context_window: int
    max_turns: int | None
    tools: list[str]
    created_at: str
    websocket_url: str


class StreamTokenCreate(_Request):
    scopes: list[str] | None = Field(
        None,
        max_length=16,
        description="What the token may send on the stream (default: audio, keep_alive, "
        "inject_user_message, tool_result; also update_prompt, update_voice, "
        "inject_agent_message).",
    )


class StreamTokenOut(BaseModel):
    token: str
    session_id: str
    expires_at: str
    websocket_url: str
    scopes: list[str] = []


class KeyCreate(_Request):
    name: str = Field("", max_length=200)


class KeyOut(BaseModel):
    id: str
    name: str
    prefix: str
    created_at: str
    bootstrap: bool


class KeyCreated(KeyOut):
    key: str = Field(description="The secret: shown this once, stored only as a hash.")


class KeyList(BaseModel):
    data: list[KeyOut]


class KeyRevoked(BaseModel):
    id: str
    status: str


class TurnOut(BaseModel):
    turn_id: str
    role: str
    text: str
    timestamp: str
    duration_ms: int
    latency_ms: int | None = None
    interrupted: bool | None = None
    metadata: dict[str, Any] | None = None


class ConversationOut(BaseModel):
    session_id: str
    status: str
    voice_id: str
    language: str
    system_prompt: str
    tools: list[ToolOut]
    context_window: int
    max_turns: int | None
    total_turns: int
    created_at: str
    last_activity_at: str
    websocket_url: str
    history: list[TurnOut]
    agent_id: str | None = None
    metadata: dict[str, Any] | None = None
    expires_at: str | None = None
    ended_at: str | None = None


class ConversationEnded(BaseModel):
    session_id: str
    status: str
    total_turns: int
    total_duration_ms: int
    ended_at: str


class AgentOut(BaseModel):
    id: str
    name: str
    voice_id: str
    system_prompt: str
    language: str
    tools: list[ToolOut]
    max_turns: int | None
    status: str
    created_at: str


class AgentList(BaseModel):
    data: list[AgentOut]
    total: int
    limit: int
    offset: int
    has_more: bool


class AgentDeleted(BaseModel):
    id: str
    status: str
    terminated_sessions: list[str]


class AgentSessionOut(BaseModel):
    session_id: str
    agent_id: str
    websocket_url: str
    created_at: str
    expires_at: str
    status: str
    metadata: dict[str, Any] | None = None
    initial_message: str | None = None


class VoiceOut(BaseModel):
    voice_id: str
    name: str
    language: str | None
    locale: str | None = None
    gender: str | None = None
    engine: str


class VoiceList(BaseModel):
    data: list[VoiceOut]
    total: int


class ErrorDetail(BaseModel):
    type: str
    message: str
    param: str | None


class ErrorBody(BaseModel):
    error: ErrorDetail


# The error answers the resource routes document in OpenAPI.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody},
    401: {"model": ErrorBody},
    404: {"model": ErrorBody},
    409: {"model": ErrorBody},
    413: {"model": ErrorBody},
    429: {"model": ErrorBody, "description": "Rate limited; see Retry-After."},
}
