"""The periodic job that purges history past its retention (30 days by default)."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from parley.store import Store
from parley.timeutil import utcnow

log = logging.getLogger("parley.purge")


async def purge_once(store: Store, retention_days: float) -> int:
    cutoff = utcnow() - timedelta(days=retention_days)
    n = await store.conversations.purge_ended_before(cutoff)
    if n:
        log.info("purged %d conversations ended before %s", n, cutoff.isoformat())
    if d := await store.webhooks.purge_before(cutoff):  # finished deliveries, same retention
        log.info("purged %d webhook deliveries completed before %s", d, cutoff.isoformat())
    return n


async def purge_forever(store: Store, retention_days: float, interval_s: float) -> None:
    while True:
        try:
            await purge_once(store, retention_days)
        except Exception:  # keep the job alive; the next round retries
            log.exception("history purge failed")
        await asyncio.sleep(interval_s)
