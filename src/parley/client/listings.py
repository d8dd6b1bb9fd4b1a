"""Typed results of the operator endpoints: pages of conversations and sessions,
webhooks and their deliveries (same conventions as `models`: frozen, `raw` kept)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from parley.client.models import JSON, AgentSession, _dt, _obj, _req

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list: iterate it for its rows. `next_cursor` (when the server gives
    one) continues after the last row even while rows are being added."""

    data: list[T]
    total: int
    limit: int
    offset: int
    has_more: bool
    next_cursor: str | None = None

    @property
    def next_offset(self) -> int | None:
        return self.offset + len(self.data) if self.has_more and self.data else None

    def __iter__(self) -> Iterator[T]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


def page_parser(row: Callable[[Any], T], what: str) -> Callable[[Any], Page[T]]:
    def parse(data: Any) -> Page[T]:
        d = _obj(data, what)
        return Page(
            data=[row(r) for r in d.get("data") or []],
            total=int(d.get("total") or 0),
            limit=int(d.get("limit") or 0),
            offset=int(d.get("offset") or 0),
            has_more=bool(d.get("has_more")),
            next_cursor=d.get("next_cursor"),
        )

    return parse


@dataclass(frozen=True)
class ConversationSummary:
    """A row of `conversations.list`: a conversation without its history."""

    session_id: str
    status: str
    agent_id: str | None
    voice_id: str
    language: str
    total_turns: int
    created_at: datetime | None
    last_activity_at: datetime | None
    ended_at: datetime | None = None
    expires_at: datetime | None = None
    metadata: dict[str, Any] | None = None
    raw: JSON = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> ConversationSummary:
        d = _obj(data, "a conversation")
        return cls(
            session_id=str(_req(d, "session_id", "a conversation")),
            status=str(d.get("status", "")),
            agent_id=d.get("agent_id"),
            voice_id=str(d.get("voice_id", "")),
            language=str(d.get("language", "")),
            total_turns=int(d.get("total_turns") or 0),
            created_at=_dt(d.get("created_at")),
            last_activity_at=_dt(d.get("last_activity_at")),
            ended_at=_dt(d.get("ended_at")),
            expires_at=_dt(d.get("expires_at")),
            metadata=d.get("metadata"),
            raw=dict(d),
        )


@dataclass(frozen=True)
class Webhook:
    """An event webhook; `secret` is set only on the answer to `webhooks.create`."""

    id: str
    url: str
    events: list[str]
    created_at: datetime | None
    secret: str | None = None
    raw: JSON = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> Webhook:
        d = _obj(data, "a webhook")
        return cls(
            id=str(_req(d, "id", "a webhook")),
            url=str(d.get("url", "")),
            events=[str(e) for e in d.get("events") or []],
            created_at=_dt(d.get("created_at")),
            secret=d.get("secret"),
            raw=dict(d),
        )


@dataclass(frozen=True)
class DeliveryAttempt:
    attempt: int
    at: datetime | None
    status_code: int | None
    error: str | None
    duration_ms: int

    @classmethod
    def from_json(cls, data: Any) -> DeliveryAttempt:
        d = _obj(data, "a delivery attempt")
        return cls(
            attempt=int(d.get("attempt") or 0),
            at=_dt(d.get("at")),
            status_code=d.get("status_code"),
            error=d.get("error"),
            duration_ms=int(d.get("duration_ms") or 0),
        )


@dataclass(frozen=True)
class Delivery:
    """One event sent to one webhook: `status` pending (retrying), delivered or failed."""

    id: str
    webhook_id: str
    event_id: str
    event: str
    status: str
    attempts: int
    status_code: int | None
    error: str | None
    created_at: datetime | None
    completed_at: datetime | None
    next_attempt_at: datetime | None
    attempt_log: list[DeliveryAttempt]
    raw: JSON = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> Delivery:
        d = _obj(data, "a delivery")
        return cls(
            id=str(_req(d, "id", "a delivery")),
            webhook_id=str(d.get("webhook_id", "")),
            event_id=str(d.get("event_id", "")),
            event=str(d.get("event", "")),
            status=str(d.get("status", "")),
            attempts=int(d.get("attempts") or 0),
            status_code=d.get("status_code"),
            error=d.get("error"),
            created_at=_dt(d.get("created_at")),
            completed_at=_dt(d.get("completed_at")),
            next_attempt_at=_dt(d.get("next_attempt_at")),
            attempt_log=[DeliveryAttempt.from_json(a) for a in d.get("attempt_log") or []],
            raw=dict(d),
        )


@dataclass(frozen=True)
class WebhookDeleted:
    id: str
    deleted: bool

    @classmethod
    def from_json(cls, data: Any) -> WebhookDeleted:
        d = _obj(data, "a deleted webhook")
        return cls(id=str(_req(d, "id", "a deleted webhook")), deleted=bool(d.get("deleted")))


conversation_page = page_parser(ConversationSummary.from_json, "a page of conversations")
session_page = page_parser(AgentSession.from_json, "a page of sessions")
webhook_page = page_parser(Webhook.from_json, "a page of webhooks")
delivery_page = page_parser(Delivery.from_json, "a page of deliveries")
