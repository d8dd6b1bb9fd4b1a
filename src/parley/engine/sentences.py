"""Split streamed LLM text into sentences, so speech can start before the reply ends."""

from __future__ import annotations

import re

# A sentence ends at . ! ? … (or their CJK forms) followed by space, or at a newline.
_END = re.compile(r"(?<=[.!?…。！？])[\"')\]]*\s+|\n+")
_ABBREVIATIONS = {"mr.", "mrs.", "ms.", "dr.", "st.", "vs.", "etc.", "e.g.", "i.e.", "no."}
MIN_CHARS = 12  # don't speak "Hi." alone when more follows quickly; merged with the next


class SentenceSplitter:
    """`push(text)` returns the sentences completed so far; `flush()` the remainder."""

    def __init__(self, min_chars: int = MIN_CHARS) -> None:
        self._buffer = ""
        self._min_chars = min_chars

    def push(self, text: str) -> list[str]:
        self._buffer += text
        out: list[str] = []
        start = 0
        for m in _END.finditer(self._buffer):
            candidate = self._buffer[start : m.end()].strip()
            last_word = candidate.rsplit(" ", 1)[-1].lower()
            if last_word in _ABBREVIATIONS:
                continue  # "Dr. Smith" — not a sentence end
            if len(candidate) < self._min_chars and not m.group(0).startswith("\n"):
                continue
            if candidate:
                out.append(candidate)
            start = m.end()
        self._buffer = self._buffer[start:]
        return out

    def flush(self) -> str:
        rest, self._buffer = self._buffer.strip(), ""
        return rest
