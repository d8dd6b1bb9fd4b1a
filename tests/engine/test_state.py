"""The conversation state machine on its own: every state, every allowed move."""

from __future__ import annotations

import logging

import pytest

from parley.engine.state import (
    ALLOWED,
    Ended,
    IllegalTransition,
    Listening,
    State,
    StateMachine,
    Transition,
)


def test_every_state_has_a_row_and_ended_is_final() -> None:
    assert set(ALLOWED) == set(State)
    assert ALLOWED[State.ENDED] == frozenset()
    # every state can end; nothing but ENDED is a dead end
    assert all(State.ENDED in targets for s, targets in ALLOWED.items() if s is not State.ENDED)


def test_the_table_is_tight() -> None:
    """Audio starts only from a reply being thought out (or resumed); a reply is prepared
    only for a decided turn; nothing reaches SPEAKING from the user's side."""
    assert State.SPEAKING not in ALLOWED[State.LISTENING]
    assert State.SPEAKING not in ALLOWED[State.PREPARING]
    assert State.PREPARING not in ALLOWED[State.USER_SPEAKING]
    assert [s for s, targets in ALLOWED.items() if State.PREPARING in targets] == [
        State.ENDPOINTING
    ]
    assert sorted(s.value for s, t in ALLOWED.items() if State.SPEAKING in t) == [
        "paused",
        "thinking",
    ]


def test_a_strict_machine_raises_on_an_illegal_move_and_stays_put() -> None:
    seen: list[Transition] = []
    sm = StateMachine("conv_x", strict=True, on_transition=seen.append)
    assert sm.go(Ended("deleted"), "deleted", "turn_001")
    assert seen == [Transition("conv_x", "turn_001", State.LISTENING, State.ENDED, "deleted")]
    with pytest.raises(IllegalTransition, match="ended → listening"):
        sm.go(Listening(), "back")
    assert sm.state is State.ENDED and len(seen) == 1


def test_in_production_an_illegal_move_is_logged_and_refused(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sm = StateMachine("conv_y")
    sm.go(Ended("x"), "x")
    with caplog.at_level(logging.ERROR, logger="parley.engine"):
        assert sm.go(Listening(), "back") is False
    assert sm.state is State.ENDED
    assert "illegal transition ended → listening" in caplog.text
