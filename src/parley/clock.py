"""Injectable time (DESIGN principle 8).

Code that paces or times out reads a `Clock` it was given: `RealClock` in the
server, `VirtualClock` in tests, where time moves only when the test says so::

    clock = VirtualClock()
    task = asyncio.create_task(pacer.send(audio))   # sleeps on clock
    await clock.advance(0.5)                        # 500 ms pass, instantly
    assert pacer.played_ms == 500
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds on a monotonic scale; only differences are meaningful."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class RealClock:
    """Wall time: `time.monotonic` and `asyncio.sleep`."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class VirtualClock:
    """Time that stands still until `advance` moves it.

    `advance(s)` wakes the sleepers whose deadline falls within the next `s`
    seconds one at a time, in deadline order (ties: in the order they went to
    sleep), with `now()` set to each one's deadline as it wakes. After each
    wake-up the event loop runs until the woken task blocks again, so a task
    that sleeps in a loop gets every one of its wake-ups inside the window.

    "Runs until it blocks again" is `settle()`: a fixed number of event-loop
    turns. That covers tasks that await plain coroutines, futures set by other
    tasks and queue hand-offs; it does not wait for real I/O or threads.
    """

    SETTLE_ROUNDS = 20

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        wake = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._order), wake))
        await wake  # if the sleeper is cancelled, `wake` is cancelled and skipped

    @property
    def sleepers(self) -> int:
        """Tasks currently asleep on this clock."""
        return sum(not wake.done() for _, _, wake in self._sleepers)

    async def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"cannot go back in time ({seconds} s)")
        target = self._now + seconds
        await self.settle()  # let tasks created just before this call reach their first sleep
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, wake = heapq.heappop(self._sleepers)
            if wake.done():
                continue
            self._now = max(self._now, deadline)
            wake.set_result(None)
            await self.settle()
        self._now = target

    async def settle(self) -> None:
        """Let ready tasks run until they block (see the class docstring)."""
        for _ in range(self.SETTLE_ROUNDS):
            await asyncio.sleep(0)
