"""What a delivery posts: `{"id", "type", "created_at", "data"}` for each event type."""

from __future__ import annotations

from typing import Any

from parley.api.routes.conversations import turn_out
from parley.store import Store
from parley.store.records import ConversationRecord, TurnRecord
from parley.timeutil import iso
from parley.webhooks import events as ev


def _duration_ms(rec: ConversationRecord) -> int:
    if rec.started_at is None or rec.ended_at is None:
        return 0
    return max(0, int((rec.ended_at - rec.started_at).total_seconds() * 1000))


async def event_data(store: Store, event: ev.Event, rec: ConversationRecord) -> dict[str, Any]:
    """The event's `data`: the session it is about, and what happened."""
    data: dict[str, Any] = {"session_id": rec.id, "agent_id": rec.agent_id}
    if event.type == ev.CONVERSATION_STARTED:
        data |= {"started_at": iso(rec.started_at), "metadata": rec.metadata}
    elif event.type == ev.TURN_COMPLETED:
        turn: TurnRecord = event.data["turn"]
        data["turn"] = turn_out(turn)
    elif event.type == ev.TOOL_FAILED:
        call = event.data["call"]
        data |= {
            "turn_id": event.data["turn_id"],
            "call_id": call.get("call_id"),
            "name": call.get("name"),
            "arguments": call.get("arguments"),
            "error": call.get("error"),
        }
    elif event.type == ev.CONVERSATION_ENDED:
        turns = await store.conversations.turns(rec.id)
        data |= {
            "status": rec.status,
            "reason": event.data.get("reason", "ended"),
            "total_turns": len(turns),
            "total_duration_ms": _duration_ms(rec),
            "created_at": iso(rec.created_at),
            "started_at": iso(rec.started_at),
            "ended_at": iso(rec.ended_at),
            "metadata": rec.metadata,
            "history": [turn_out(t) for t in turns],
        }
    return data


def envelope(event: ev.Event, data: dict[str, Any]) -> dict[str, Any]:
    return {"id": event.id, "type": event.type, "created_at": iso(event.created_at), "data": data}
