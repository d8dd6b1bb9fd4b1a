"""OpenAI Realtime `session.update`: instructions, voice, tools, audio formats, turn
detection, applied to the live Parley conversation."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from parley.api.errors import ApiError
from parley.api.tools import normalise_tools

if TYPE_CHECKING:
    from parley.transports.openai_realtime import RealtimeSession

# Realtime audio formats → Parley's codecs (audio/pcm is 24 kHz; G.711 is 8 kHz)
FORMATS = {
    "audio/pcm": ("pcm16", 24000),
    "audio/pcmu": ("mulaw", 8000),
    "audio/pcma": ("alaw", 8000),
}


class Invalid(Exception):
    def __init__(self, code: str, message: str, param: str | None = None) -> None:
        self.code, self.message, self.param = code, message, param


def as_dict(value: Any, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Invalid("invalid_value", f"'{name}' must be an object.", name)
    return value


async def session_update(s: RealtimeSession, msg: dict[str, Any]) -> None:
    session = as_dict(msg.get("session"), "session")
    audio = as_dict(session.get("audio"), "session.audio")
    for direction in ("input", "output"):
        fmt = as_dict(
            as_dict(audio.get(direction), f"session.audio.{direction}").get("format"), "format"
        )
        if fmt:
            kind, rate = fmt.get("type"), fmt.get("rate", 24000)
            if kind not in FORMATS or (kind == "audio/pcm" and rate != 24000):
                raise Invalid(
                    "invalid_value",
                    f"Unsupported audio format {fmt!r}: use audio/pcm (24 kHz), pcmu or pcma.",
                    f"session.audio.{direction}.format",
                )
            s.conn.set_format(direction, kind)
    turn = as_dict(audio.get("input"), "session.audio.input").get(
        "turn_detection", {"type": "server_vad"}
    )
    if turn is None or as_dict(turn, "turn_detection").get("type") not in (
        "server_vad",
        "semantic_vad",
        None,
    ):
        raise Invalid(
            "unsupported_turn_detection",
            "Only server_vad/semantic_vad turn detection is supported (Parley's own turn-taking).",
            "session.audio.input.turn_detection",
        )
    if "tools" in session:
        raw = session.get("tools") or []
        if not isinstance(raw, list):
            raise Invalid("invalid_value", "'session.tools' must be a list.", "session.tools")
        try:
            tools = normalise_tools(
                [
                    {k: v for k, v in t.items() if k != "type"} if isinstance(t, dict) else t
                    for t in raw
                ]
            )
        except ApiError as exc:
            raise Invalid("invalid_value", exc.message, "session.tools") from exc
        # the engine reads the record's tools at each LLM round
        s.conv.record = dataclasses.replace(s.conv.record, tools=tuple(tools))
    instructions = session.get("instructions")
    if (
        isinstance(instructions, str)
        and instructions.strip()
        and instructions != s.conv.system_prompt
    ):
        await s.conv.update_prompt(instructions.strip())
    voice = as_dict(audio.get("output"), "session.audio.output").get("voice", session.get("voice"))
    if isinstance(voice, str):
        if s.ctx.voices.get(voice) is not None:
            await s.conv.update_voice(voice)
            s.openai_voice = None
        else:  # an OpenAI voice name: Parley's default voice speaks
            s.openai_voice = voice[:100]
    s.conn.events.emit("session.updated", session=s.shape())
