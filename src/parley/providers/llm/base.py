"""The LLM provider interface: chat messages in, a stream of events out.

A reply is one call to `LLMProvider.stream`, consumed as it arrives::

    request ──▶ [Delayed]  TextDelta, TextDelta, …  [ToolCallsReady]  Finished
                (queued)   (spoken as they come)    (once, at the end) (always last)

Everything here is a plain value; wire formats (OpenAI JSON, SSE) stay inside the
implementations. Failures surface as `LLMError` from the iterator, never as a hang:
implementations bound the wait for the first chunk and between chunks.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True)
class ToolCall:
    """A function call the model asked for; `arguments` is raw JSON text, as produced."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class ChatMessage:
    """One message of the conversation history.

    An assistant message may carry `tool_calls` (content then often None); a tool
    message answers one of them, naming it by `tool_call_id`.
    """

    role: Role
    content: str | None
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_call_id: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class ToolSpec:
    """A tool the model may call: `parameters` is a JSON Schema object."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


@dataclass(frozen=True)
class TextDelta:
    """A piece of the reply text, in order."""

    text: str


@dataclass(frozen=True)
class ToolCallsReady:
    """Every tool call of the response, fully assembled; emitted once, before `Finished`."""

    calls: list[ToolCall]


@dataclass(frozen=True)
class Finished:
    """The response is complete. `finish_reason` is the server's ("stop", "length",
    "tool_calls", …), or None if the stream ended without one."""

    finish_reason: str | None
    usage: Usage | None = None


@dataclass(frozen=True)
class Delayed:
    """The reply is waiting for the model, not yet started: queued for `waited_s` behind
    `ahead` other replies (the embedded LLM's queue). At most once, before any text; the
    engine says a short filler ("One moment.") so that the line is not silent."""

    waited_s: float
    ahead: int


LLMEvent = TextDelta | ToolCallsReady | Finished | Delayed

# Error codes (also sent on streams as `{"type": "error", "code", "message"}`).
LLM_NOT_CONFIGURED = "llm_not_configured"
LLM_UNAVAILABLE = "llm_unavailable"  # could not connect, or the connection dropped
LLM_TIMEOUT = "llm_timeout"  # no first chunk in time, a stall mid-stream, or too slow overall
LLM_ERROR = "llm_error"  # the server answered with an error
LLM_BUSY = "llm_busy"  # the embedded model's queue is full, or a reply waited in it too long


class LLMError(RuntimeError):
    """An LLM request failed. `message` is for humans and names the setting to fix."""

    def __init__(self, code: str, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status  # the HTTP status, when the server answered with one

    @property
    def retryable(self) -> bool:
        """Whether trying again might help (the engine decides whether to)."""
        if self.code in (LLM_UNAVAILABLE, LLM_TIMEOUT):
            return True
        return self.status is not None and (self.status in (408, 409, 429) or self.status >= 500)

    def __repr__(self) -> str:
        return f"LLMError({self.code!r}, {self.message!r}, status={self.status!r})"


class LLMProvider(Protocol):
    def stream(
        self, messages: list[ChatMessage], tools: list[ToolSpec] | None = None
    ) -> AsyncGenerator[LLMEvent, None]:
        """The reply to `messages`, as events; raises `LLMError` while iterating.

        Consume it inside the reply task, ideally with `contextlib.aclosing`, so that
        cancelling the task (barge-in) closes the underlying connection at once.
        """
        ...
