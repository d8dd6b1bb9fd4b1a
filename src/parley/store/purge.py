"""The periodic job that purges history past its retention (30 days by default), and
first ends the sessions abandoned live in the store (`close_abandoned`)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Abandoned:
    """When a live session in the store is abandoned: started longer ago than any session
    may last (the maximum duration, plus a minute for its last turn to be stored), or
    created and never connected for `unstarted_s`."""

    max_duration_s: float = 3600.0
    unstarted_s: float = 86_400.0


async def close_abandoned(store: Store, rule: Abandoned) -> int:
    now = utcnow()
    n = await store.conversations.close_abandoned(
        started_before=now - timedelta(seconds=rule.max_duration_s + 60),
        created_before=now - timedelta(seconds=rule.unstarted_s),
    )
    if n:
        log.info("ended %d abandoned or expired sessions", n)
    return n


async def purge_forever(
    store: Store, retention_days: float, interval_s: float, abandoned: Abandoned | None = None
) -> None:
    while True:
        try:
            await close_abandoned(store, abandoned or Abandoned())
            await purge_once(store, retention_days)
        except Exception:  # keep the job alive; the next round retries
            log.exception("history purge failed")
        await asyncio.sleep(interval_s)
