"""The user turn in flight when a conversation ends (the caller hangs up mid-sentence,
the session is deleted): what was heard of it is stored, as a user turn.

    user speaking / pausing / reply being prepared / speaking over a paused reply
      ─▶ stop capturing ─▶ the recogniser's final on the audio heard ─▶ store the turn

It is not answered: the conversation is ending. An empty transcript stores nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from parley.clock import Clock
from parley.engine.ledger import NewTurn, TurnLedger
from parley.engine.listener import Listener
from parley.engine.state import Endpointing, Paused, Phase, Preparing, UserSpeaking
from parley.engine.turns import UserTurn


async def keep_user_turn(
    phase: Phase,
    listener: Listener,
    ledger: TurnLedger,
    clock: Clock,
    close_segment: Callable[[UserTurn], asyncio.Task[str]],
) -> None:
    """Store the open user turn of `phase`, if any (after any cut reply's turn: call this
    once the reply is cut)."""
    user = phase.user if isinstance(phase, UserSpeaking | Endpointing | Preparing) else None
    if isinstance(phase, Paused):
        user = phase.user  # speaking over a paused reply (None: only a voice onset)
    if user is None:
        return
    if listener.capturing:  # still speaking: the turn ends here
        user.last_voiced_ms = max(user.last_voiced_ms, listener.last_voiced_ms)
        close_segment(user)
    if text := await user.transcript(clock):
        ledger.append(NewTurn("user", text, user.started_at, user.duration_ms))
