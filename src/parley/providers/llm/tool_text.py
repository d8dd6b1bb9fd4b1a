"""Tool calls written as text: `<tool_call>{"name": …, "arguments": {…}}</tool_call>`.

That is the format the chat templates of Qwen 2.5, Hermes and SmolLM2 (1.7B) teach. A
streamed piece is split into what may be spoken and what belongs to a call; a suffix
that could still become `<tool_call>` is held back until the next piece decides it.
"""

from __future__ import annotations

import json
import uuid

from parley.providers.llm.base import ToolCall

OPEN = "<tool_call>"
CLOSE = "</tool_call>"


def _held_prefix(text: str) -> int:
    """The length of the longest suffix of `text` that is a proper prefix of OPEN."""
    for n in range(min(len(OPEN) - 1, len(text)), 0, -1):
        if text.endswith(OPEN[:n]):
            return n
    return 0


def parse_call(body: str) -> ToolCall | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        return None
    args = data.get("arguments", data.get("parameters", {}))
    arguments = args if isinstance(args, str) else json.dumps(args)
    return ToolCall(f"call_{uuid.uuid4().hex[:24]}", data["name"], arguments)


class ToolTextSplitter:
    def __init__(self) -> None:
        self.calls: list[ToolCall] = []
        self._buffer = ""
        self._in_call = False

    def feed(self, piece: str) -> str:
        """The part of everything fed so far that is now known to be speech."""
        self._buffer += piece
        spoken: list[str] = []
        while True:
            if self._in_call:
                end = self._buffer.find(CLOSE)
                if end < 0:
                    return "".join(spoken)
                self._add(self._buffer[:end])
                self._buffer = self._buffer[end + len(CLOSE) :]
                self._in_call = False
                continue
            start = self._buffer.find(OPEN)
            if start >= 0:
                spoken.append(self._buffer[:start])
                self._buffer = self._buffer[start + len(OPEN) :]
                self._in_call = True
                continue
            keep = _held_prefix(self._buffer)
            cut = len(self._buffer) - keep
            spoken.append(self._buffer[:cut])
            self._buffer = self._buffer[cut:]
            return "".join(spoken)

    def finish(self) -> str:
        """At the end of the reply: an unterminated call is parsed (or dropped), a held
        partial tag is speech after all."""
        rest, self._buffer = self._buffer, ""
        if self._in_call:
            self._in_call = False
            self._add(rest)
            return ""
        return rest

    def _add(self, body: str) -> None:
        call = parse_call(body.strip())
        if call is not None:
            self.calls.append(call)
