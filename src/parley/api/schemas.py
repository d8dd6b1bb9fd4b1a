"""Request and response bodies of the REST API (Pydantic; these drive the OpenAPI doc)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

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
    interruption: Literal["adaptive", "immediate", "none"] = Field(
        "adaptive",
        description="Speech over a reply: pause, then resume a backchannel or cut (adaptive); "
        "cut on confirmed speech (immediate); never yield (none).",
    )
    backchannel_ms: int = Field(
        1000, ge=200, le=5000, description="Speech over a reply longer than this interrupts."
    )
    pause_limit_ms: int = Field(
        1500, ge=300, le=2000, description="A paused reply is resumed or cut by then."
    )
    idle_timeout_s: int | None = Field(
        None,
        ge=5,
        le=86_400,
        description="End the session after this long with nobody speaking; null = the "
        "server's (PARLEY_SESSION_IDLE_TIMEOUT_S), which it cannot exceed.",
    )
    max_duration_s: int | None = Field(
        None,
        ge=5,
        le=604_800,
        description="End the session this long after it started; null = the server's "
        "(PARLEY_SESSION_MAX_DURATION_S), which it cannot exceed.",
    )
    max_utterance_s: int | None = Field(
        None,
        ge=5,
        le=3600,
        description="A user turn that lasts this long is ended and answered; null = the "
        "server's (PARLEY_MAX_UTTERANCE_S, 120), which it cannot exceed.",
    )
    # End of turn (engine/endpointing.py): silence after the user's last voiced frame.
    end_of_turn_fast_ms: int = Field(
        200, ge=0, le=5000, description="Wait when the turn model and the words agree."
    )
    end_of_turn_normal_ms: int = Field(
        600, ge=100, le=5000, description="Wait when the turn model is unsure."
    )
    end_of_turn_slow_ms: int = Field(
        1600, ge=200, le=10_000, description="Wait after words that cannot end a sentence."
    )


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


# An agent's fields, shared by create and PATCH (one definition of each constraint).
AgentName = Annotated[str, Field(min_length=1, max_length=200)]
VoiceId = Annotated[str, Field(min_length=1, max_length=200, description="See GET /v1/voices.")]
SystemPrompt = Annotated[str, Field(min_length=1, max_length=100_000)]
MaxTurns = Annotated[
    int, Field(ge=1, le=1_000_000, description="Turns per session; null = unlimited.")
]


class AgentCreate(_Request):
    name: AgentName
    voice_id: VoiceId
    system_prompt: SystemPrompt
    language: str = "en"
    tools: list[Any] | None = None
    max_turns: MaxTurns | None = 50
    settings: SessionSettings | None = Field(None, description="Its sessions' settings.")


class AgentUpdate(_Request):
    """PATCH: only the fields given change (`max_turns: null` makes it unlimited)."""

    name: AgentName | None = None
    voice_id: VoiceId | None = None
    system_prompt: SystemPrompt | None = None
    language: str | None = None
    tools: list[Any] | None = None
    max_turns: MaxTurns | None = None
    settings: SessionSettings | None = Field(
        None, description="Replaces the settings (null: the defaults)."
    )
    status: Literal["active", "paused"] | None = Field(
        None, description="`paused` refuses new sessions; `active` resumes."
    )


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
    settings: dict[str, Any] | None = None


class AgentList(BaseModel):
    data: list[AgentOut]
    total: int
    limit: int
    offset: int
    has_more: bool


class AgentUpdated(AgentOut):
    terminated_sessions: list[str] | None = Field(
        None, description="With ?end_sessions=true: the live sessions that were ended."
    )


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


class Page(BaseModel):
    total: int = Field(description="Rows matching the filters.")
    limit: int
    offset: int
    has_more: bool
    next_cursor: str | None = Field(
        None, description="Pass as ?cursor= for the next page (null on the last)."
    )


class AgentSessionList(Page):
    data: list[AgentSessionOut]


class ConversationSummary(BaseModel):
    session_id: str
    status: str
    agent_id: str | None = None
    voice_id: str
    language: str
    total_turns: int
    created_at: str
    last_activity_at: str
    ended_at: str | None = None
    expires_at: str | None = None
    metadata: dict[str, Any] | None = None


class ConversationList(Page):
    data: list[ConversationSummary]


class WebhookCreate(_Request):
    url: str = Field(min_length=1, max_length=2000, description="http(s) URL to POST to.")
    events: list[str] = Field(
        min_length=1,
        description="conversation.started, conversation.ended, turn.completed, tool.failed",
    )


class WebhookOut(BaseModel):
    id: str
    url: str
    events: list[str]
    created_at: str


class WebhookCreated(WebhookOut):
    secret: str = Field(description="Signs every delivery; shown only once, at creation.")


class WebhookList(Page):
    data: list[WebhookOut]


class WebhookDeleted(BaseModel):
    id: str
    deleted: bool


class DeliveryAttempt(BaseModel):
    attempt: int
    at: str
    status_code: int | None
    error: str | None
    duration_ms: int


class DeliveryOut(BaseModel):
    id: str
    webhook_id: str
    event_id: str
    event: str
    status: str = Field(description="pending (retrying) | delivered | failed")
    attempts: int
    status_code: int | None
    error: str | None
    created_at: str
    completed_at: str | None
    next_attempt_at: str | None
    attempt_log: list[DeliveryAttempt]


class DeliveryList(Page):
    data: list[DeliveryOut]


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
CONFLICT_RESPONSES: dict[int | str, dict[str, Any]] = {**ERROR_RESPONSES, 409: {"model": ErrorBody}}
