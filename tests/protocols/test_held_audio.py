"""The held tail of a paused reply: what is sent again on resume."""

from __future__ import annotations

import numpy as np

from parley.transports.held_audio import KEEP_S, HeldReply


def test_resend_is_the_audio_from_the_paused_position_once() -> None:
    held = HeldReply()
    audio = np.arange(16000, dtype=np.int16)  # 1 s at 16 kHz, in 20 ms chunks
    for offset in range(0, len(audio), 320):
        held.add(audio[offset : offset + 320], 16000)
    assert held.take_resend() is None  # not paused
    held.pause(800.0)
    resend = held.take_resend()
    assert resend is not None and resend[1] == 16000
    assert np.array_equal(resend[0], audio[12800:])
    assert held.take_resend() is None  # once


def test_only_the_tail_is_kept_and_a_new_reply_starts_empty() -> None:
    held = HeldReply()
    chunk = np.ones(1600, dtype=np.int16)
    for _ in range(int(KEEP_S * 10) * 3):  # 3 × KEEP_S of audio
        held.add(chunk, 16000)
    held.pause(KEEP_S * 3000 - 100)  # 100 ms before the end
    resend = held.take_resend()
    assert resend is not None and len(resend[0]) == 1600
    held.pause(0.0)  # a position no longer kept: what is kept is sent
    resend = held.take_resend()
    assert resend is not None and len(resend[0]) <= KEEP_S * 16000 + 1600
    held.end()
    held.pause(0.0)
    assert held.take_resend() is None
