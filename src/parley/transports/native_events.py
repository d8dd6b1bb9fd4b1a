"""Engine events → the seed's JSON events on the native stream."""

from __future__ import annotations

from typing import Any

from parley.engine import events as ev


def to_json(event: ev.Event) -> dict[str, Any]:
    match event:
        case ev.SessionStarted(session_id=sid, resumed=resumed):
            out: dict[str, Any] = {"type": "session_started", "session_id": sid}
            if resumed:
                out["resumed"] = True
            return out
        case ev.TurnStart(role=role, latency_ms=latency):
            out = {"type": "turn_start", "role": role}
            if latency is not None:
                out["latency_ms"] = latency
            return out
        case ev.TranscriptEvent(role=role, text=text, is_final=final, turn_id=tid):
            out = {"type": "transcript", "role": role, "text": text, "is_final": final}
            if tid is not None:
                out["turn_id"] = tid
            return out
        case ev.TurnEnd(role=role, turn_id=tid, duration_ms=ms, interrupted=cut, discarded=gone):
            out = {"type": "turn_end", "role": role, "turn_id": tid, "duration_ms": ms}
            if role == "assistant":
                out["interrupted"] = cut
            if gone:
                out["discarded"] = True
            return out
        case ev.Interrupted(turn_id=tid, played_ms=played):
            return {"type": "interrupted", "turn_id": tid, "played_ms": played}
        case ev.ReplyPaused(played_ms=played):
            return {"type": "reply_paused", "played_ms": played}
        case ev.ReplyResumed(played_ms=played, from_ms=from_ms):
            at = played if from_ms is None else from_ms
            return {"type": "reply_resumed", "played_ms": played, "from_ms": at}
        case ev.ErrorEvent(code=code, message=message):
            return {"type": "error", "code": code, "message": message}
        case ev.ToolCallEvent(call_id=cid, name=name, arguments=args):
            return {"type": "tool_call", "call_id": cid, "name": name, "arguments": args}
        case ev.Ack(kind=kind, data=data):
            return {"type": kind, **data}
        case ev.SessionEnded(reason=reason):
            return {"type": "session_ended", "reason": reason}
    raise TypeError(f"no JSON form for {event!r}")
