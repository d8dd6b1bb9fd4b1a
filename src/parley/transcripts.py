"""A conversation's stored turns as a readable transcript: plain text or WebVTT.

Times are from the conversation's start (its first connection, or its first turn if
earlier). A stored user turn's `timestamp` is when the user started speaking; an
assistant turn is stored when its audio has finished playing (or was cut), so its
`timestamp` is its end and it started `duration_ms` before. Typed turns last 0 ms.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from parley.store.records import ConversationRecord, TurnRecord
from parley.timeutil import iso

SPEAKERS = {"user": "User", "assistant": "Assistant"}


@dataclass(frozen=True)
class Cue:
    start_ms: int
    end_ms: int
    speaker: str
    text: str
    turn_id: str


def _span(turn: TurnRecord) -> tuple[datetime, datetime]:
    length = timedelta(milliseconds=max(0, turn.duration_ms))
    if turn.role == "assistant":
        return turn.timestamp - length, turn.timestamp
    return turn.timestamp, turn.timestamp + length


def cues(rec: ConversationRecord, turns: list[TurnRecord]) -> list[Cue]:
    spans = [_span(t) for t in turns]
    starts = [s for s, _ in spans] + ([rec.started_at] if rec.started_at else [])
    if not starts:
        return []
    origin = min(starts)
    out = []
    for turn, (start, end) in zip(turns, spans, strict=True):
        start_ms = int((start - origin).total_seconds() * 1000)
        end_ms = int((end - origin).total_seconds() * 1000)
        text = " ".join(turn.text.split())
        if turn.interrupted:
            text += " [interrupted]"
        speaker = SPEAKERS.get(turn.role, turn.role.capitalize())
        out.append(Cue(max(0, start_ms), max(0, end_ms), speaker, text, turn.turn_id))
    return sorted(out, key=lambda c: (c.start_ms, c.turn_id))


def _clock(ms: int) -> str:
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def to_text(rec: ConversationRecord, turns: list[TurnRecord]) -> str:
    head = f"Conversation {rec.id}"
    if rec.agent_id:
        head += f" (agent {rec.agent_id})"
    head += f", created {iso(rec.created_at)}, {len(turns)} turns"
    lines = [head, ""]
    for cue in cues(rec, turns):
        lines.append(f"[{_clock(cue.start_ms)} - {_clock(cue.end_ms)}] {cue.speaker}: {cue.text}")
    return "\n".join(lines) + "\n"


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_webvtt(rec: ConversationRecord, turns: list[TurnRecord]) -> str:
    """WebVTT with one cue per turn, the speaker as a voice span (`<v User>`)."""
    blocks = [f"WEBVTT - {rec.id}"]
    for cue in cues(rec, turns):
        end = max(cue.end_ms, cue.start_ms + 1)  # a cue must end after it starts
        blocks.append(
            f"{cue.turn_id}\n{_clock(cue.start_ms)} --> {_clock(end)}\n"
            f"<v {cue.speaker}>{_vtt_escape(cue.text)}"
        )
    return "\n\n".join(blocks) + "\n"
