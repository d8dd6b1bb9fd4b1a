"""The in-process event bus the store publishes to (conversation started/ended, turns).

The store calls `publish` after a change is committed; subscribers (the webhook service)
must only queue the event: `publish` runs on the caller's path, which may be a live
conversation's, so nothing here waits, does I/O or raises.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from parley import ids
from parley.timeutil import utcnow

log = logging.getLogger("parley.events")

CONVERSATION_STARTED = "conversation.started"
CONVERSATION_ENDED = "conversation.ended"
TURN_COMPLETED = "turn.completed"
TOOL_FAILED = "tool.failed"
EVENT_TYPES = (CONVERSATION_STARTED, CONVERSATION_ENDED, TURN_COMPLETED, TOOL_FAILED)


@dataclass(frozen=True)
class Event:
    """Something that happened to a conversation; `data` holds what is known at once
    (the webhook service adds what must be read back, e.g. the history)."""

    type: str
    conversation_id: str
    data: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=lambda: ids.new_id("evt"))
    created_at: datetime = field(default_factory=utcnow)


Subscriber = Callable[[Event], None]


class EventBus:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call `subscriber(event)` for every event; returns the unsubscribe function."""
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber)

    def publish(self, event: Event) -> None:
        for subscriber in list(self._subscribers):
            try:
                subscriber(event)
            except Exception:  # a subscriber's bug must not break the store's caller
                log.exception("event subscriber failed on %s", event.type)
