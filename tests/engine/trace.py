"""What the engine did, read from its observers (not its log), stamped with virtual time."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from parley.clock import VirtualClock
from parley.engine import state
from parley.engine.endpointing import EndOfTurnDecided


@dataclass(frozen=True)
class Transition:
    t: float
    old: str
    new: str
    why: str


@dataclass(frozen=True)
class EndOfTurn:
    t: float
    probability: float | None
    need_ms: int
    speech_ms: int


class EngineTrace(logging.Handler):
    """State transitions and end-of-turn decisions of one conversation (its observer),
    and the errors the engine logged about it."""

    def __init__(self, clock: VirtualClock, session_id: str) -> None:
        super().__init__(logging.ERROR)
        self._clock = clock
        self._session = session_id
        self.transitions: list[Transition] = []
        self.decisions: list[EndOfTurn] = []
        self.errors: list[str] = []

    def __call__(self, fact: state.Transition | EndOfTurnDecided) -> None:
        now = self._clock.now()
        if isinstance(fact, state.Transition):
            self.transitions.append(Transition(now, fact.old.value, fact.new.value, fact.why))
        else:
            self.decisions.append(EndOfTurn(now, fact.probability, fact.need_ms, fact.speech_ms))

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if f"session={self._session} " in message:
            self.errors.append(message)

    def went(self, new: str, why: str | None = None) -> list[Transition]:
        return [t for t in self.transitions if t.new == new and (why is None or t.why == why)]
