"""What makes a reconnection seamless: backoff delays and the exactly-once turn filter.

After a reconnection the server replays, marked `"replayed": true`, the final transcript
and `turn_end` of every turn stored after the `last_turn_id` the client sent. Races
(a turn stored just as the new connection attached) can deliver a turn both replayed and
live; `TurnFilter` lets each turn's final transcript and `turn_end` through once.
"""

from __future__ import annotations

import random
from collections.abc import Callable

BACKOFF_BASE_S = 0.25
BACKOFF_CAP_S = 8.0


def backoff_delay(
    attempt: int,
    base: float = BACKOFF_BASE_S,
    cap: float = BACKOFF_CAP_S,
    rand: Callable[[], float] = random.random,
) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base · 2^attempt)]
    for the 0-based `attempt`."""
    return rand() * min(cap, base * (2 ** min(attempt, 32)))


def turn_seq(turn_id: str | None) -> int | None:
    """`turn_007` → 7 (None for anything else)."""
    if not turn_id or not turn_id.startswith("turn_"):
        return None
    digits = turn_id[len("turn_") :]
    return int(digits) if digits.isdigit() else None


class TurnFilter:
    """Delivers each turn's final transcript and `turn_end` at most once.

    `baseline` is the last turn the application had already seen when the stream
    started (turns up to it are not delivered again); `resume_from` is the `last_turn_id`
    to send on a reconnection: the latest turn whose `turn_end` went out (or the
    baseline).
    """

    def __init__(self, baseline: str | None = None) -> None:
        self.baseline = baseline
        self._floor = turn_seq(baseline) or 0
        self._delivered: set[tuple[str, str]] = set()
        self._last: tuple[int, str] | None = (self._floor, baseline) if baseline else None
        self.dropped = 0  # duplicates held back, for diagnostics

    def admit(self, kind: str, turn_id: str | None) -> bool:
        """Whether to deliver a final `transcript` or a `turn_end` of `turn_id`; call it
        once per event (an admitted event counts as delivered)."""
        seq = turn_seq(turn_id)
        if turn_id is None or seq is None:
            return True  # e.g. a discarded turn: nothing to deduplicate on
        key = (kind, turn_id)
        if seq <= self._floor or key in self._delivered:
            self.dropped += 1
            return False
        self._delivered.add(key)
        if kind == "turn_end" and (self._last is None or seq > self._last[0]):
            self._last = (seq, turn_id)
        return True

    @property
    def resume_from(self) -> str | None:
        return self._last[1] if self._last else None


BEFORE_FIRST_TURN = "turn_000"  # resume point of a conversation without turns yet


def baseline_of(last_stored_turn: str | None) -> str:
    """The resume point for a stream starting on a conversation whose last stored turn
    is `last_stored_turn`: turns after it are new to this client."""
    return last_stored_turn or BEFORE_FIRST_TURN
