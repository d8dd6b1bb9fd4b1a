"""The two waits at the hand-over of the floor, user → assistant (no state moves here:
the conversation decides what they mean).

    speech ██████████▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁
                     ^ last voiced frame
                     |<- end_of_turn: the policy's silence ->| decided: reply prepared
                                      reply ready: first audio, unless the user has just
                                      made a sound (speaking_gap: ≤ VOICED_HOLD_S)

There is no fixed "speak after" hold any more (it was 700 ms): the words the decision
reads (Whisper's, once they cover the speech) hold an unfinished sentence for the slow
wait, so a ready reply goes out at once (bench --set pauses: README "End of turn").
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
WORDS_POLL_MS = 32.0  # the words so far are read again this often while the silence lasts


async def end_of_turn(
    rt: Runtime,
    listener: Listener,
    user: UserTurn,
    record: ConversationRecord,
    capped: bool = False,
) -> EndOfTurnDecided:
    """Wait for as much silence as the signals ask for (see endpointing.py).

    Silence is re-measured after every wait: a voiced frame (the user drawing breath to
    go on) resets it at once, before the detector confirms speech again. The words are
    re-read too (their decode may land during the silence), and the turn is taken only
    once they cover the speech, or after the normal wait at the latest. A `capped` turn
    (at its maximum length) is decided at once.
    """
    clock = rt.clock
    policy = rt.policy.for_session(record.settings)
    speech_ms = user.last_voiced_ms - user.start_ms
    probability = None
    if policy.needs_model(speech_ms) and not capped:
        probability = await rt.predict_turn(listener.turn_audio())
    need_ms, words = 0, None
    while not capped:
        words = listener.stt.partial() if listener.stt.interim else None
        need_ms = policy.required_silence_ms(probability, words, speech_ms, record.language)
        quiet = listener.silence_ms(clock.now())
        if quiet >= need_ms and (quiet >= policy.normal_ms or listener.words_caught_up()):
            break
        # at least 1 ms: a float remainder far below the clock's resolution would wake
        # at the same instant forever (it did, on the virtual clock)
        await clock.sleep(min(max(need_ms - quiet, 1.0), WORDS_POLL_MS) / 1000)
    user.speech_end_clock = listener.last_voiced_clock
    user.eot_clock = clock.now()
    p = None if probability is None else round(probability, 3)
    log.info(
        "session=%s end of turn: p=%s need=%dms speech=%dms words=%r%s",
        record.id,
        p,
        need_ms,
        speech_ms,
        words,
        " (capped: the turn reached its maximum length)" if capped else "",
    )
    return EndOfTurnDecided(record.id, probability, need_ms, speech_ms, words)


async def speaking_gap(rt: Runtime, listener: Listener, user: UserTurn) -> None:
    """Speech that has just begun, not yet confirmed, holds a ready reply back (at most
    `VOICED_HOLD_S`): confirmed, it continues the same turn; a breath or a click lets the
    reply go. The wait is stored as the turn's `first_audio_hold_ms`."""
    clock = rt.clock
    ready = clock.now()
    deadline = clock.now() + VOICED_HOLD_S
    while listener.silence_ms(clock.now()) < VOICED_QUIET_MS and clock.now() < deadline:
        await clock.sleep(0.032)
    user.hold_ms = (clock.now() - ready) * 1000
