"""Every state of a conversation, and every transition between them (DESIGN principle 1).

The user's turn, and the hand-over::

    LISTENING ─speech─▶ USER_SPEAKING ─pause─▶ ENDPOINTING ─decided─▶ PREPARING ─▶ THINKING
                          ▲    ▲                    │                    │   user turn
                          │    └── speech resumes ──┘                    │   committed
                          └───────────────── the user goes on: same turn ┘

The reply (a typed turn, a greeting or an agent message starts at THINKING, from LISTENING)::

    THINKING ─first audio (or a sentence after tool results)─▶ SPEAKING
    THINKING, SPEAKING ─tool calls─▶ TOOL_RUNNING ─results in─▶ THINKING
    THINKING, SPEAKING, TOOL_RUNNING ─barge-in─▶ USER_SPEAKING
                                     ─reply done, cut or failed─▶ LISTENING

Yielding in two steps (`yielding.py`)::

    THINKING, SPEAKING, TOOL_RUNNING ─voice over the reply─▶ PAUSED
    PAUSED ─noise, backchannel─▶ back where it was
           ─interruption─▶ USER_SPEAKING (speech goes on) or ENDPOINTING (it is over)

and any state ─▶ ENDED. `ALLOWED` below is the whole table.

Each state carries its own data (the user turn being heard, the reply being prepared or
spoken): what a conversation is doing is `StateMachine.phase`, and nothing beside it.
Only `Conversation` calls `StateMachine.go`; collaborators report facts to it. A
transition outside `ALLOWED` raises `IllegalTransition` where the machine is strict (the
tests) and is logged and refused in production, where a session must survive a bug.
Every transition is logged with the session and turn id and handed to `on_transition`
observers (tests and metrics read those, not the log).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    import asyncio

    from parley.engine.turns import ReplyJob, UserTurn

log = logging.getLogger("parley.engine")


class State(enum.Enum):
    LISTENING = "listening"
    USER_SPEAKING = "user_speaking"
    ENDPOINTING = "endpointing"
    PREPARING = "preparing"  # a reply is made for a spoken turn the user may still go on with
    THINKING = "thinking"
    SPEAKING = "speaking"
    TOOL_RUNNING = "tool_running"
    PAUSED = "paused"  # voice over the reply: its audio held while yielding is decided
    ENDED = "ended"


S = State
ALLOWED: dict[State, frozenset[State]] = {
    S.LISTENING: frozenset({S.USER_SPEAKING, S.THINKING, S.ENDED}),
    S.USER_SPEAKING: frozenset({S.ENDPOINTING, S.LISTENING, S.ENDED}),
    S.ENDPOINTING: frozenset({S.USER_SPEAKING, S.PREPARING, S.LISTENING, S.ENDED}),
    S.PREPARING: frozenset({S.USER_SPEAKING, S.THINKING, S.LISTENING, S.ENDED}),
    S.THINKING: frozenset(
        {S.SPEAKING, S.TOOL_RUNNING, S.PAUSED, S.LISTENING, S.USER_SPEAKING, S.ENDED}
    ),
    S.SPEAKING: frozenset({S.TOOL_RUNNING, S.PAUSED, S.LISTENING, S.USER_SPEAKING, S.ENDED}),
    S.TOOL_RUNNING: frozenset({S.THINKING, S.PAUSED, S.LISTENING, S.USER_SPEAKING, S.ENDED}),
    # resumed (to where it was), an interruption (its speech going on, or already over),
    # or the reply failed while paused
    S.PAUSED: frozenset(
        {
            S.THINKING,
            S.SPEAKING,
            S.TOOL_RUNNING,
            S.USER_SPEAKING,
            S.ENDPOINTING,
            S.LISTENING,
            S.ENDED,
        }
    ),
    S.ENDED: frozenset(),
}


# --- the states and their data -------------------------------------------------------


@dataclass(frozen=True)
class Listening:
    state: ClassVar[State] = State.LISTENING


@dataclass(frozen=True)
class UserSpeaking:
    state: ClassVar[State] = State.USER_SPEAKING
    user: UserTurn


@dataclass(frozen=True)
class Endpointing:
    state: ClassVar[State] = State.ENDPOINTING
    user: UserTurn
    decision: asyncio.Task[None]  # waits out the silence the policy asks for


@dataclass(frozen=True)
class Preparing:
    """The turn is decided and its reply is being made, but nothing is said or stored
    yet: speech now continues the same turn and the reply is dropped."""

    state: ClassVar[State] = State.PREPARING
    user: UserTurn
    job: ReplyJob


@dataclass(frozen=True)
class Thinking:
    state: ClassVar[State] = State.THINKING
    job: ReplyJob


@dataclass(frozen=True)
class Speaking:
    state: ClassVar[State] = State.SPEAKING
    job: ReplyJob


@dataclass(frozen=True)
class ToolRunning:
    state: ClassVar[State] = State.TOOL_RUNNING
    job: ReplyJob


@dataclass(frozen=True)
class Paused:
    """Voice over the reply (`yielding.py`): the reply's audio is held, its LLM and tools
    go on, while a short decision says whether to resume it or cut it."""

    state: ClassVar[State] = State.PAUSED
    job: ReplyJob
    back_to: State  # where resuming returns: THINKING, SPEAKING or TOOL_RUNNING
    since: float  # clock time of the pause
    user: UserTurn | None = None  # the overlapping speech, once confirmed


@dataclass(frozen=True)
class Ended:
    state: ClassVar[State] = State.ENDED
    reason: str


Phase = (
    Listening
    | UserSpeaking
    | Endpointing
    | Preparing
    | Thinking
    | Speaking
    | ToolRunning
    | Paused
    | Ended
)
Replying = Thinking | Speaking | ToolRunning  # an assistant reply is under way: barge-in applies


def replying(state: State, job: ReplyJob) -> Thinking | Speaking | ToolRunning:
    """The reply's phase for `state` (where a paused reply resumes)."""
    if state is State.THINKING:
        return Thinking(job)
    return ToolRunning(job) if state is State.TOOL_RUNNING else Speaking(job)


@dataclass(frozen=True)
class Transition:
    session_id: str
    turn_id: str  # the turn the new state concerns
    old: State
    new: State
    why: str


class IllegalTransition(RuntimeError):
    pass


class StateMachine:
    def __init__(
        self,
        session_id: str,
        *,
        strict: bool = False,
        on_transition: Callable[[Transition], None] | None = None,
    ) -> None:
        self.session_id = session_id
        self.phase: Phase = Listening()
        self.strict = strict
        self._observers: list[Callable[[Transition], None]] = []
        if on_transition is not None:
            self._observers.append(on_transition)

    @property
    def state(self) -> State:
        return self.phase.state

    def amend(self, new: Phase) -> None:
        """New data for the same state (a paused reply's speech, confirmed)."""
        if new.state is not self.phase.state:
            raise IllegalTransition(f"amend {self.phase.state.value} with {new.state.value}")
        self.phase = new

    def go(self, new: Phase, why: str, turn_id: str = "") -> bool:
        """Move to `new` (with its data); False if the move is not allowed."""
        old = self.phase.state
        if new.state not in ALLOWED[old]:
            message = (
                f"session={self.session_id} turn={turn_id} illegal transition "
                f"{old.value} → {new.state.value} ({why})"
            )
            if self.strict:
                raise IllegalTransition(message)
            log.error(message)
            return False
        log.info(
            "session=%s turn=%s %s → %s (%s)",
            self.session_id,
            turn_id,
            old.value,
            new.state.value,
            why,
        )
        self.phase = new
        transition = Transition(self.session_id, turn_id, old, new.state, why)
        for observer in self._observers:
            observer(transition)
        return True
