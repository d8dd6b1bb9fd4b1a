"""Pacer on virtual time: lead bound, played_ms, stalls, reset, cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from parley.audio.pacer import Pacer
from parley.clock import RealClock, VirtualClock
from tests.speech import silence, speak

RATE = 16000
REPLY = "Sure. I have booked a table for two at seven tonight. Anything else?"


@dataclass
class Sent:
    at: float  # clock time of the sink call
    samples: int
    played_ms: float  # pacer.played_ms when it arrived
    sent_ms: float  # pacer.sent_ms before it


@dataclass
class Harness:
    clock: VirtualClock = field(default_factory=VirtualClock)
    calls: list[Sent] = field(default_factory=list)
    audio: list[np.ndarray] = field(default_factory=list)
    pacer: Pacer = field(init=False)

    def __post_init__(self) -> None:
        self.pacer = Pacer(self.sink, RATE, self.clock, lead_ms=200, chunk_ms=20)

    async def sink(self, chunk: np.ndarray) -> None:
        p = self.pacer
        self.calls.append(Sent(self.clock.now(), len(chunk), p.played_ms, p.sent_ms))
        self.audio.append(chunk)

    async def run(self, coro: Coroutine[Any, Any, None], step: float) -> float:
        """Advance in `step`s until the task finishes; the virtual time it took."""
        task = asyncio.create_task(coro)
        start = self.clock.now()
        while not task.done():
            await self.clock.advance(step)
        await task
        return self.clock.now() - start


def seconds_of_speech(seconds: float) -> np.ndarray:
    speech = speak(REPLY, rate=RATE)
    assert len(speech) >= seconds * RATE
    return speech[: int(seconds * RATE)]


async def test_never_more_than_lead_ahead_and_not_slower_than_real_time() -> None:
    h = Harness()
    audio = seconds_of_speech(2.0)
    took = await h.run(h.pacer.send(audio), step=0.007)  # steps that do not line up with 20 ms

    np.testing.assert_array_equal(np.concatenate(h.audio), audio)  # all of it, in order
    assert all(c.samples == 320 for c in h.calls)
    for c in h.calls:
        ahead_after = c.sent_ms + c.samples * 1000 / RATE - c.played_ms
        assert ahead_after <= 200 + 1e-6
    # the first 200 ms go out at once; the last chunk once 1.8 s have been heard
    assert [c.at for c in h.calls[:10]] == [0.0] * 10 and h.calls[10].at > 0
    assert 1.8 <= took < 1.8 + 0.007 + 1e-9
    assert h.pacer.sent_ms == 2000


async def test_played_ms_follows_the_clock_up_to_what_was_sent() -> None:
    h = Harness()
    task = asyncio.create_task(h.pacer.send(seconds_of_speech(2.0)))
    assert h.pacer.played_ms == 0  # nothing sent yet
    await h.clock.advance(0.0)
    assert (h.pacer.sent_ms, h.pacer.played_ms) == (200, 0)
    await h.clock.advance(0.5)
    assert h.pacer.played_ms == pytest.approx(500)
    assert h.pacer.sent_ms == pytest.approx(700)
    assert h.pacer.ahead_ms == pytest.approx(200)
    await h.clock.advance(1.3)  # t = 1.8: the last chunk has just gone out
    assert task.done()
    assert h.pacer.played_ms == pytest.approx(1800)
    await h.clock.advance(1.2)  # t = 3.0: long finished
    assert h.pacer.played_ms == pytest.approx(2000)
    assert h.pacer.ahead_ms == pytest.approx(0)


async def test_playback_stalls_when_the_audio_source_falls_behind() -> None:
    h = Harness()
    await h.run(h.pacer.send(seconds_of_speech(1.0)), step=0.01)  # done at t = 0.8
    await h.clock.advance(0.7)  # t = 1.5: TTS is slow with the next sentence
    assert h.pacer.played_ms == pytest.approx(1000)
    task = asyncio.create_task(h.pacer.send(seconds_of_speech(0.5)))
    await h.clock.advance(0.2)  # t = 1.7
    assert h.pacer.played_ms == pytest.approx(1200)  # not 1700: nothing played in the gap
    assert h.pacer.sent_ms == pytest.approx(1400)
    await h.clock.advance(0.3)
    assert task.done() and h.pacer.played_ms == pytest.approx(1500)


async def test_cancel_stops_output_at_once() -> None:
    h = Harness()
    task = asyncio.create_task(h.pacer.send(seconds_of_speech(2.0)))
    await h.clock.advance(0.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    calls, heard = len(h.calls), h.pacer.played_ms
    assert heard == pytest.approx(500) and h.pacer.sent_ms == pytest.approx(700)
    await h.clock.advance(2.0)
    assert len(h.calls) == calls  # nothing more reached the sink
    assert h.pacer.played_ms == pytest.approx(700)  # the listener plays out what it holds


async def test_cancel_while_the_sink_is_blocked() -> None:
    clock = VirtualClock()
    calls: list[int] = []
    release = asyncio.Event()

    async def slow_sink(chunk: np.ndarray) -> None:
        calls.append(len(chunk))
        await release.wait()  # e.g. a congested socket

    pacer = Pacer(slow_sink, RATE, clock)
    task = asyncio.create_task(pacer.send(seconds_of_speech(1.0)))
    await clock.advance(0.1)
    assert calls == [320]
    task.cancel()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    await clock.advance(1.0)
    assert calls == [320] and pacer.sent_ms == 0  # the interrupted chunk is not counted


async def test_reset_starts_a_new_reply() -> None:
    h = Harness()
    await h.run(h.pacer.send(seconds_of_speech(1.0)), step=0.01)
    await h.clock.advance(2.0)
    h.pacer.reset()
    assert (h.pacer.sent_ms, h.pacer.played_ms) == (0, 0)
    h.calls.clear()
    start = h.clock.now()
    task = asyncio.create_task(h.pacer.send(seconds_of_speech(0.5)))
    await h.clock.advance(0.1)
    assert h.pacer.played_ms == pytest.approx(100)
    assert [c.at for c in h.calls[:10]] == [start] * 10  # a fresh lead burst
    await h.clock.advance(0.5)
    assert task.done() and h.pacer.played_ms == pytest.approx(500)


async def test_drain_waits_until_everything_is_heard() -> None:
    h = Harness()

    async def reply() -> None:
        await h.pacer.send(seconds_of_speech(1.0))
        await h.pacer.drain()

    took = await h.run(reply(), step=0.005)
    assert took == pytest.approx(1.0, abs=0.0051)
    assert h.pacer.played_ms == pytest.approx(1000)


async def test_short_and_odd_sized_sends() -> None:
    h = Harness()
    await h.run(h.pacer.send(np.zeros(0, dtype=np.int16)), step=0.01)
    assert h.calls == []
    odd = seconds_of_speech(0.105)  # 5 chunks and a 5 ms tail
    await h.run(h.pacer.send(odd), step=0.01)
    assert [c.samples for c in h.calls] == [320] * 5 + [80]
    assert h.pacer.sent_ms == pytest.approx(105)


def test_settings_are_checked() -> None:
    async def sink(chunk: np.ndarray) -> None: ...

    clock = VirtualClock()
    with pytest.raises(ValueError, match="lead_ms"):
        Pacer(sink, RATE, clock, lead_ms=400)
    with pytest.raises(ValueError, match="chunk_ms"):
        Pacer(sink, RATE, clock, lead_ms=10, chunk_ms=20)
    with pytest.raises(ValueError, match="whole number"):
        Pacer(sink, 22050, clock, chunk_ms=10)


async def test_real_clock_paces_in_real_time() -> None:
    clock = RealClock()
    sent: list[float] = []

    async def sink(chunk: np.ndarray) -> None:
        sent.append(clock.now())

    pacer = Pacer(sink, RATE, clock, lead_ms=100)
    audio = np.concatenate([speak("Yes.", rate=RATE), silence(0.3)])[: int(0.3 * RATE)]
    start = clock.now()
    await pacer.send(audio)
    took = clock.now() - start
    assert 0.19 <= took < 0.5  # 300 ms of audio, 100 ms lead
    assert pacer.played_ms == pytest.approx(took * 1000, abs=25)


async def test_a_paused_reply_holds_its_place_and_goes_on_from_there() -> None:
    clock = VirtualClock()
    sent: list[tuple[float, int]] = []

    async def sink(chunk: np.ndarray) -> None:
        sent.append((clock.now(), len(chunk)))

    pacer = Pacer(sink, 16000, clock, lead_ms=200)
    task = asyncio.create_task(pacer.send(np.zeros(16000, dtype=np.int16)))  # 1 s
    await clock.advance(0.3)
    pacer.pause()
    played = pacer.played_ms
    assert played == pytest.approx(300)
    count = len(sent)
    await clock.advance(2.0)  # nothing goes out, nothing more is heard
    assert len(sent) == count and pacer.played_ms == pytest.approx(played)
    assert pacer.ahead_ms <= 200 + 1e-6
    pacer.resume()
    await clock.advance(0.1)
    assert pacer.played_ms == pytest.approx(played + 100)
    await clock.advance(1.0)
    await task
    assert sum(n for _, n in sent) == 16000
    # the second half went out after the pause, at the same pace
    assert max(t for t, _ in sent) == pytest.approx(2.3 + (1.0 - 0.2 - 0.3), abs=0.021)


@pytest.mark.parametrize("done_sending", [False, True])
async def test_a_rewind_while_paused_sends_the_audio_from_there_again(
    done_sending: bool,
) -> None:
    """The pause cut a word at 430 ms that began at 350 ms: the listener dropped what it
    held, and everything from 350 ms goes out again, in order, before anything new, and
    `played_ms` goes on from 350 ms. Also once all the reply was sent (it is draining)."""
    h = Harness()
    audio = seconds_of_speech(2.0)
    seconds = 0.5 if done_sending else 2.0
    send = asyncio.create_task(h.pacer.send(audio[: int(seconds * RATE)]))

    async def the_rest() -> None:
        await send
        if done_sending:
            await h.pacer.drain()
        else:
            await h.pacer.send(audio[int(seconds * RATE) :])

    task = asyncio.create_task(the_rest())
    await h.clock.advance(0.43)
    h.pacer.pause()
    sent_before = h.pacer.sent_ms
    assert sent_before > 430
    await h.clock.advance(0.5)
    assert h.pacer.rewind(350) == pytest.approx(350)
    assert h.pacer.sent_ms == pytest.approx(350) and h.pacer.played_ms == pytest.approx(350)
    assert h.pacer.rewind(600) == pytest.approx(350)  # never forward
    count = len(h.audio)
    h.pacer.resume()
    await h.clock.advance(0.1)
    assert h.pacer.played_ms == pytest.approx(450)
    while not task.done():
        await h.clock.advance(0.01)
    await task
    again = np.concatenate(h.audio[count:])
    played = audio[: int(seconds * RATE)] if done_sending else audio
    np.testing.assert_array_equal(again, played[int(0.35 * RATE) :])
    assert h.pacer.sent_ms == pytest.approx(seconds * 1000)


async def test_a_rewind_goes_back_no_further_than_the_audio_kept() -> None:
    h = Harness()
    audio = np.ones(5 * RATE, dtype=np.int16)
    task = asyncio.create_task(h.pacer.send(audio))
    await h.clock.advance(4.0)
    h.pacer.pause()
    assert h.pacer.rewind(0) >= h.pacer.sent_ms - 3000 - 20
    task.cancel()
