"""The operator calls as data (see `_calls`): agent edits, lists with filters,
transcripts, webhooks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from parley.client._calls import Call, ToolSpec, _tools, path_segment
from parley.client.listings import (
    ConversationSummary,
    Delivery,
    Page,
    Webhook,
    WebhookDeleted,
    conversation_page,
    delivery_page,
    session_page,
    webhook_page,
)
from parley.client.models import Agent, AgentSession

EVENTS = ("conversation.started", "conversation.ended", "turn.completed", "tool.failed")


class Unset:
    """The default of `agents.update` fields: leave the field as it is."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = Unset()


def update_agent(agent_id: str, changes: Mapping[str, Any], end_sessions: bool) -> Call[Agent]:
    body = {k: v for k, v in changes.items() if not isinstance(v, Unset)}
    if "tools" in body and body["tools"] is not None:
        body["tools"] = _tools(body["tools"])
    params = {"end_sessions": "true"} if end_sessions else None
    path = f"/v1/agents/{path_segment(agent_id)}"
    return Call("PATCH", path, Agent.from_json, json=body, params=params)


def _when(value: datetime | str | None) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def list_params(
    *,
    status: str | None,
    created_after: datetime | str | None,
    created_before: datetime | str | None,
    metadata: Mapping[str, str] | None,
    order: str,
    limit: int,
    offset: int,
    cursor: str | None,
    agent_id: str | None = None,
) -> dict[str, Any]:
    """Query parameters of the list endpoints (`metadata` as `metadata.KEY=VALUE`)."""
    params: dict[str, Any] = {"limit": limit, "order": order}
    if cursor is not None:
        params["cursor"] = cursor
    elif offset:
        params["offset"] = offset
    for key, value in (
        ("status", status),
        ("agent_id", agent_id),
        ("created_after", _when(created_after)),
        ("created_before", _when(created_before)),
    ):
        if value is not None:
            params[key] = value
    for key, value in (metadata or {}).items():
        params[f"metadata.{key}"] = str(value)
    return params


def list_conversations(params: Mapping[str, Any]) -> Call[Page[ConversationSummary]]:
    return Call("GET", "/v1/conversations", conversation_page, params=params)


def list_agent_sessions(agent_id: str, params: Mapping[str, Any]) -> Call[Page[AgentSession]]:
    path = f"/v1/agents/{path_segment(agent_id)}/sessions"
    return Call("GET", path, session_page, params=params)


def transcript(session_id: str, format: str) -> Call[str]:
    path = f"/v1/conversations/{path_segment(session_id)}/transcript"
    return Call("GET", path, str, params={"format": format}, text=True)


def create_webhook(url: str, events: Sequence[str]) -> Call[Webhook]:
    return Call(
        "POST", "/v1/webhooks", Webhook.from_json, json={"url": url, "events": list(events)}
    )


def list_webhooks(limit: int, offset: int) -> Call[Page[Webhook]]:
    return Call("GET", "/v1/webhooks", webhook_page, params={"limit": limit, "offset": offset})


def get_webhook(webhook_id: str) -> Call[Webhook]:
    return Call("GET", f"/v1/webhooks/{path_segment(webhook_id)}", Webhook.from_json)


def delete_webhook(webhook_id: str) -> Call[WebhookDeleted]:
    return Call("DELETE", f"/v1/webhooks/{path_segment(webhook_id)}", WebhookDeleted.from_json)


def list_deliveries(webhook_id: str, limit: int, offset: int) -> Call[Page[Delivery]]:
    path = f"/v1/webhooks/{path_segment(webhook_id)}/deliveries"
    return Call("GET", path, delivery_page, params={"limit": limit, "offset": offset})


__all__ = ["EVENTS", "UNSET", "ToolSpec", "Unset"]
