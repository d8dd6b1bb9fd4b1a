"""Query parameters of the stream, checked before the WebSocket upgrade."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from parley.audio.codecs import ENCODINGS, SAMPLE_RATES

_TURN_ID = re.compile(r"^turn_\d{3,18}$")

# What a stream token may be allowed to send (an API key may send everything).
STREAM_SCOPES = frozenset(
    {
        "audio",
        "keep_alive",
        "inject_user_message",
        "tool_result",
        "inject_agent_message",
        "update_prompt",
        "update_voice",
    }
)


def parse_scopes(raw: str | list[str]) -> frozenset[str]:
    """Scopes from a comma-separated string or a list; ValueError names unknown ones."""
    items = raw.split(",") if isinstance(raw, str) else raw
    scopes = frozenset(i.strip() for i in items if i.strip())
    unknown = scopes - STREAM_SCOPES
    if unknown:
        raise ValueError(f"unknown scopes {sorted(unknown)}; known: {sorted(STREAM_SCOPES)}")
    return scopes


class ParamError(ValueError):
    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param
        self.message = message


@dataclass(frozen=True)
class StreamParams:
    sample_rate: int = 16000
    encoding: str = "pcm16"
    vad_threshold: float = 0.5
    last_turn_id: str | None = None

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> StreamParams:
        rate_text = query.get("sample_rate", "16000")
        try:
            rate = int(rate_text)
        except ValueError:
            rate = -1
        if rate not in SAMPLE_RATES:
            raise ParamError(
                "sample_rate",
                f"Invalid 'sample_rate' {rate_text!r}: use one of {list(SAMPLE_RATES)}.",
            )
        encoding = query.get("encoding", "pcm16")
        if encoding not in ENCODINGS:
            raise ParamError(
                "encoding", f"Invalid 'encoding' {encoding!r}: use one of {list(ENCODINGS)}."
            )
        vad_text = query.get("vad_threshold", "0.5")
        try:
            vad = float(vad_text)
        except ValueError:
            vad = -1.0
        if not 0.0 < vad <= 1.0 or vad != vad:
            # 0 would count silence as speech: a turn that never ends.
            raise ParamError(
                "vad_threshold",
                f"Invalid 'vad_threshold' {vad_text!r}: use a number above 0.0, up to 1.0.",
            )
        last = query.get("last_turn_id")
        if last is not None and not _TURN_ID.match(last):
            raise ParamError(
                "last_turn_id", f"Invalid 'last_turn_id' {last!r}: expected e.g. 'turn_004'."
            )
        return cls(rate, encoding, vad, last)
