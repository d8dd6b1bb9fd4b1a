"""The two waits at the hand-over of the floor, user → assistant (no state moves here:
the conversation decides what they mean).

    speech ██████████▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁
                     ^ last voiced frame
                     |<- end_of_turn: the policy's silence ->| decided: reply prepared
                     |<------------ speaking_gap: speak_after_ms ------------>| first audio
"""

from __future__ import annotations

import logging

from parley.engine.endpointing import EndOfTurnDecided
from parley.engine.listener import Listener
from parley.engine.runtime import Runtime
from parley.engine.turns import UserTurn
from parley.store.records import ConversationRecord

log = logging.getLogger("parley.engine")

VOICED_HOLD_S = 0.6  # unconfirmed speech holds a ready reply back at most this long
VOICED_QUIET_MS = 100.0  # ... until the user has been quiet this long


async def end_of_turn(
    rt: Runtime, listener: Listener, user: UserTurn, record: ConversationRecord
) -> EndOfTurnDecided:
    """Wait for as much silence as the signals ask for (see endpointing.py).

    Silence is re-measured after every wait: a voiced frame (the user drawing breath to
    go on) resets it at once, before the detector confirms speech again.
    """
    clock = rt.clock
    speech_ms = user.last_voiced_ms - user.start_ms
    probability = None
    if rt.policy.needs_model(speech_ms):
        probability = await rt.predict_turn(listener.turn_audio())
    # read after the model: the recogniser catches up meanwhile
    words = listener.stt.partial() if listener.stt.interim else None
    need_ms = rt.policy.required_silence_ms(probability, words, speech_ms, record.language)
    while (quiet := listener.silence_ms(clock.now())) < need_ms:
        # at least 1 ms: a float remainder far below the clock's resolution would wake
        # at the same instant forever (it did, on the virtual clock)
        await clock.sleep(max(need_ms - quiet, 1.0) / 1000)
    user.speech_end_clock = listener.last_voiced_clock
    user.eot_clock = clock.now()
    p = None if probability is None else round(probability, 3)
    log.info("session=%s end of turn: p=%s need=%dms speech=%dms", record.id, p, need_ms, speech_ms)
    return EndOfTurnDecided(record.id, probability, need_ms, speech_ms)


async def speaking_gap(rt: Runtime, listener: Listener, user: UserTurn) -> None:
    """A fast decision starts the reply early, but its first audio waits until the user
    has been quiet `speak_after_ms`: until then the decision can still be taken back at
    no cost. Without this, "What is the best way to get from the hotel ‖ to the old town?"
    was cut at 500-600 ms pauses whenever the reply was ready sooner (bench/README.md).
    Speech that has just begun, not yet confirmed, holds the reply back a little longer
    (at most `VOICED_HOLD_S`): confirmed, it continues the same turn; a breath or a click
    lets the reply go. The wait is stored as the turn's `first_audio_hold_ms`."""
    clock = rt.clock
    ready = clock.now()
    speak_at = user.speech_end_clock + rt.policy.speak_after_ms / 1000
    if (wait := speak_at - clock.now()) > 0:
        await clock.sleep(wait)
    deadline = clock.now() + VOICED_HOLD_S
    while listener.silence_ms(clock.now()) < VOICED_QUIET_MS and clock.now() < deadline:
        await clock.sleep(0.032)
    user.hold_ms = (clock.now() - ready) * 1000
