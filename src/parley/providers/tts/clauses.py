"""Cut a sentence into pieces short enough to synthesize quickly, at clause boundaries.

A neural voice (Piper) synthesizes a whole text at once, so the first audio of a reply
waits for its whole first sentence. Cut at a clause boundary (a comma, semicolon, colon
or dash; else before a conjunction), the first piece is short and the rest follows while
it plays. Only long sentences are cut, never inside a number ("1,000") or a short clause
that would sound clipped.
"""

from __future__ import annotations

import re

FIRST_MAX = 48  # characters: a first piece longer than this is cut if it can be
REST_MAX = 110  # the following pieces
MIN_PIECE = 14  # no piece shorter than this (it would sound clipped)
_PUNCT = re.compile(r"(?<=[,;:])\s+|\s+(?=[—–-]\s)")
_CONJUNCTION = re.compile(r"\s+(?=(?:and|but|because|so|or|which|when|while|if)\s)", re.I)


def _cut(text: str, limit: int) -> tuple[str, str]:
    """The first piece of `text` (at most about `limit` chars when it can be) and the rest."""
    if len(text) <= limit:
        return text, ""
    for pattern in (_PUNCT, _CONJUNCTION):
        best = None
        for m in pattern.finditer(text):
            head, tail = text[: m.start()], text[m.end() :]
            if len(head) < MIN_PIECE or len(tail) < MIN_PIECE:
                continue
            if len(head) > limit and best is not None:
                break
            best = (head, tail)
            if len(head) >= limit * 0.5:
                break
        if best is not None:
            return best
    return text, ""


def speech_chunks(text: str) -> list[str]:
    """`text` in pieces to synthesize one after another: a short first one, then clauses."""
    text = " ".join(text.split())
    if not text:
        return [""]
    pieces: list[str] = []
    rest, limit = text, FIRST_MAX
    while rest:
        head, rest = _cut(rest, limit)
        pieces.append(head)
        limit = REST_MAX
    return pieces
