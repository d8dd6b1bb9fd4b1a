"""VirtualClock: time moves only on advance(), sleepers wake in deadline order."""

from __future__ import annotations

import asyncio

import pytest

from parley.clock import RealClock, VirtualClock


async def test_sleepers_wake_in_deadline_order_at_their_deadline() -> None:
    clock = VirtualClock()
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.now()))

    tasks = [asyncio.create_task(sleeper(n, s)) for n, s in [("a", 0.3), ("b", 0.1), ("c", 0.2)]]
    await clock.advance(0.15)
    assert woke == [("b", 0.1)]
    assert clock.now() == 0.15
    await clock.advance(1.0)
    assert woke == [("b", 0.1), ("c", 0.2), ("a", 0.3)]
    assert clock.now() == pytest.approx(1.15)
    await asyncio.gather(*tasks)


async def test_equal_deadlines_wake_in_the_order_they_slept() -> None:
    clock = VirtualClock()
    woke: list[int] = []

    async def sleeper(n: int) -> None:
        await clock.sleep(0.1)
        woke.append(n)

    for n in range(5):
        asyncio.create_task(sleeper(n))
        await clock.settle()
    await clock.advance(0.1)
    assert woke == [0, 1, 2, 3, 4]


async def test_nothing_moves_without_advance() -> None:
    clock = VirtualClock(start=5.0)
    task = asyncio.create_task(clock.sleep(0.01))
    await asyncio.sleep(0.02)  # real time passes, virtual time does not
    assert not task.done() and clock.now() == 5.0 and clock.sleepers == 1
    await clock.advance(0.01)
    assert task.done() and clock.sleepers == 0


async def test_a_looping_sleeper_gets_every_wakeup_in_the_window() -> None:
    clock = VirtualClock()
    ticks: list[float] = []

    async def ticker() -> None:
        for _ in range(10):
            await clock.sleep(0.02)
            ticks.append(clock.now())

    task = asyncio.create_task(ticker())
    await clock.advance(0.1)
    assert ticks == pytest.approx([0.02, 0.04, 0.06, 0.08, 0.1])
    await clock.advance(0.1)
    assert len(ticks) == 10 and task.done()


async def test_cancelled_sleeper_is_skipped() -> None:
    clock = VirtualClock()
    woke: list[str] = []

    async def sleeper(name: str) -> None:
        await clock.sleep(0.1)
        woke.append(name)

    doomed = asyncio.create_task(sleeper("doomed"))
    kept = asyncio.create_task(sleeper("kept"))
    await clock.settle()
    doomed.cancel()
    await clock.advance(0.2)
    assert woke == ["kept"] and doomed.cancelled() and kept.done()


async def test_zero_sleep_and_bad_advance() -> None:
    clock = VirtualClock()
    await asyncio.wait_for(clock.sleep(0), timeout=1)
    await asyncio.wait_for(clock.sleep(-1), timeout=1)
    with pytest.raises(ValueError):
        await clock.advance(-0.1)


async def test_real_clock() -> None:
    clock = RealClock()
    start = clock.now()
    await clock.sleep(0.01)
    assert clock.now() - start >= 0.009
