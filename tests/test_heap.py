"""Heap trimming: it really gives memory back, and it is throttled."""

from __future__ import annotations

import asyncio
import platform

import pytest

from parley import heap


def rss_kb() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))


@pytest.mark.skipif(platform.system() != "Linux", reason="glibc's malloc_trim")
def test_trim_returns_freed_small_allocations_to_the_system() -> None:
    # Many small objects (below the mmap threshold) land in the heap; freeing all but the
    # last leaves the heap's top pinned until trimmed, as after a conversation ends.
    blocks = [bytearray(4000) for _ in range(50_000)]  # ~200 MB
    keep = blocks[-1]
    del blocks
    before = rss_kb()
    assert heap.trim()
    after = rss_kb()
    assert before - after > 100_000, (before, after)
    assert keep


async def test_the_keeper_trims_periodically() -> None:
    keeper = heap.HeapKeeper(interval_s=0.01)
    task = asyncio.create_task(keeper.run())
    try:
        for _ in range(500):
            if keeper.trims >= 2:
                break
            await asyncio.sleep(0.01)
        assert keeper.trims >= 2
    finally:
        task.cancel()
