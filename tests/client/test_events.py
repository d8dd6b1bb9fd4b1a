"""Server events parse as their typed objects."""

from __future__ import annotations

from parley.client import ReplyPaused, ReplyResumed
from parley.client.events import EVENT_TYPES, parse_event


def test_pause_and_resume_events_are_typed() -> None:
    paused = parse_event({"type": "reply_paused", "played_ms": 1250})
    resumed = parse_event({"type": "reply_resumed", "played_ms": 1250})
    assert paused == ReplyPaused(raw=paused.raw, played_ms=1250)
    assert isinstance(resumed, ReplyResumed) and resumed.played_ms == 1250
    assert resumed.from_ms == 1250  # an older server: from where it was held
    cut = parse_event({"type": "reply_resumed", "played_ms": 1250, "from_ms": 1100})
    assert isinstance(cut, ReplyResumed) and cut.from_ms == 1100
    assert {"reply_paused", "reply_resumed"} <= set(EVENT_TYPES)
