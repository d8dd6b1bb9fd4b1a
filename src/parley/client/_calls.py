"""The REST calls as data: what to send and how to parse the answer.

Both clients build the same `Call`s here and only differ in how they execute them
(`_http.SyncHTTP` / `_http.AsyncHTTP`), so the request shapes live in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from parley.client.models import (
    Agent,
    AgentDeleted,
    AgentPage,
    AgentSession,
    Conversation,
    ConversationEnded,
    StreamToken,
    Tool,
    Voice,
    voice_list,
)

T = TypeVar("T")
ToolSpec = Mapping[str, Any] | Tool


@dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    path: str
    parse: Callable[[Any], T]
    json: Any = None
    params: Mapping[str, Any] | None = None
    text: bool = False  # `parse` gets the body as text, not JSON


def path_segment(ident: str) -> str:
    """An id as one path segment (never lets an id change the path)."""
    if not isinstance(ident, str) or not ident:
        raise ValueError(f"expected a non-empty id string, got {ident!r}")
    return quote(ident, safe="")


def _tools(tools: Sequence[ToolSpec] | None) -> list[Any] | None:
    if tools is None:
        return None
    return [t.to_json() if isinstance(t, Tool) else dict(t) for t in tools]


# --- conversations -------------------------------------------------------------------


def create_conversation(
    voice_id: str,
    system_prompt: str,
    language: str,
    tools: Sequence[ToolSpec] | None,
    context_window: int,
    max_turns: int | None,
    settings: Mapping[str, Any] | None,
) -> Call[Conversation]:
    body: dict[str, Any] = {
        "voice_id": voice_id,
        "system_prompt": system_prompt,
        "language": language,
        "context_window": context_window,
        "max_turns": max_turns,
    }
    if tools is not None:
        body["tools"] = _tools(tools)
    if settings is not None:
        body["settings"] = dict(settings)
    return Call("POST", "/v1/conversations/create", Conversation.from_json, json=body)


def get_conversation(session_id: str) -> Call[Conversation]:
    return Call("GET", f"/v1/conversations/{path_segment(session_id)}", Conversation.from_json)


def delete_conversation(session_id: str) -> Call[ConversationEnded]:
    return Call(
        "DELETE", f"/v1/conversations/{path_segment(session_id)}", ConversationEnded.from_json
    )


def stream_token(session_id: str) -> Call[StreamToken]:
    path = f"/v1/conversations/{path_segment(session_id)}/stream_token"
    return Call("POST", path, StreamToken.from_json)


# --- agents ----------------------------------------------------------------------------


def create_agent(
    name: str,
    voice_id: str,
    system_prompt: str,
    language: str,
    tools: Sequence[ToolSpec] | None,
    max_turns: int | None,
    settings: Mapping[str, Any] | None = None,
) -> Call[Agent]:
    body: dict[str, Any] = {
        "name": name,
        "voice_id": voice_id,
        "system_prompt": system_prompt,
        "language": language,
        "max_turns": max_turns,
    }
    if tools is not None:
        body["tools"] = _tools(tools)
    if settings is not None:
        body["settings"] = dict(settings)
    return Call("POST", "/v1/agents/create", Agent.from_json, json=body)


def get_agent(agent_id: str) -> Call[Agent]:
    return Call("GET", f"/v1/agents/{path_segment(agent_id)}", Agent.from_json)


def list_agents(limit: int, offset: int) -> Call[AgentPage]:
    params = {"limit": limit, "offset": offset}
    return Call("GET", "/v1/agents", AgentPage.from_json, params=params)


def delete_agent(agent_id: str) -> Call[AgentDeleted]:
    return Call("DELETE", f"/v1/agents/{path_segment(agent_id)}", AgentDeleted.from_json)


def create_agent_session(
    agent_id: str, metadata: Mapping[str, Any] | None, initial_message: str | None
) -> Call[AgentSession]:
    body: dict[str, Any] = {}
    if metadata is not None:
        body["metadata"] = dict(metadata)
    if initial_message is not None:
        body["initial_message"] = initial_message
    path = f"/v1/agents/{path_segment(agent_id)}/sessions"
    return Call("POST", path, AgentSession.from_json, json=body)


# --- voices ----------------------------------------------------------------------------


def list_voices(language: str | None, engine: str | None) -> Call[list[Voice]]:
    params = {k: v for k, v in (("language", language), ("engine", engine)) if v is not None}
    return Call("GET", "/v1/voices", voice_list, params=params or None)
