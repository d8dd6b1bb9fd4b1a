"""The states of a conversation and the transitions between them (DESIGN principle 1).

    LISTENING ──speech──▶ USER_SPEAKING ──pause──▶ ENDPOINTING ──decided──▶ THINKING
        ▲                      ▲   ◀──speech resumes──┘                       │
        │                      │                                   first audio│ tool calls
        │                      └──────── barge-in (confirmed speech) ◀──── SPEAKING ⇄ TOOL_RUNNING
        └───────────────────────── reply done / error ◀───────────────────────┘

Every transition goes through `StateMachine.go`, which logs it with the session and turn.
"""

from __future__ import annotations

import enum
import logging

log = logging.getLogger("parley.engine")


class State(enum.Enum):
    LISTENING = "listening"
    USER_SPEAKING = "user_speaking"
    ENDPOINTING = "endpointing"
    THINKING = "thinking"
    SPEAKING = "speaking"
    TOOL_RUNNING = "tool_running"
    ENDED = "ended"


S = State
ALLOWED: dict[State, frozenset[State]] = {
    S.LISTENING: frozenset({S.USER_SPEAKING, S.THINKING, S.SPEAKING, S.ENDED}),
    S.USER_SPEAKING: frozenset({S.ENDPOINTING, S.LISTENING, S.ENDED}),
    S.ENDPOINTING: frozenset({S.USER_SPEAKING, S.THINKING, S.LISTENING, S.ENDED}),
    S.THINKING: frozenset({S.SPEAKING, S.TOOL_RUNNING, S.LISTENING, S.USER_SPEAKING, S.ENDED}),
    S.SPEAKING: frozenset({S.THINKING, S.TOOL_RUNNING, S.LISTENING, S.USER_SPEAKING, S.ENDED}),
    S.TOOL_RUNNING: frozenset({S.THINKING, S.SPEAKING, S.LISTENING, S.USER_SPEAKING, S.ENDED}),
    S.ENDED: frozenset(),
}

# States in which an assistant reply is in progress (barge-in applies).
REPLYING = frozenset({S.THINKING, S.SPEAKING, S.TOOL_RUNNING})


class StateMachine:
    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self.state = State.LISTENING
        self.turn = ""  # the turn id the current state concerns, for the log

    def go(self, new: State, why: str) -> None:
        old = self.state
        if new is old:
            return
        if new not in ALLOWED[old]:
            # Not fatal: a session must survive an ordering surprise, but it is a bug.
            log.error(
                "session=%s turn=%s illegal transition %s → %s (%s)",
                self.session_id,
                self.turn,
                old.value,
                new.value,
                why,
            )
            if old is State.ENDED:
                return
        log.info(
            "session=%s turn=%s %s → %s (%s)", self.session_id, self.turn, old.value, new.value, why
        )
        self.state = new

    def in_(self, states: frozenset[State]) -> bool:
        return self.state in states
