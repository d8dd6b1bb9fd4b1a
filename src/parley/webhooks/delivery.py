"""Delivering events to webhooks, off every conversation's path.

    store (publish, after commit) ─▶ queue ─▶ dispatcher task ─▶ one task per delivery
                                   (put_nowait)   (who wants it?     (POST, signed; retries
                                                   the payload)       with backoff; recorded)

`publish` only queues, so a conversation never waits on a webhook; each attempt has an
overall deadline (`timeout_s`), so a receiver that hangs holds one delivery task, not a
turn. Attempts back off exponentially (`backoff_s`, doubling, at most `max_attempts`);
every attempt is stored on the delivery (`GET /v1/webhooks/{id}/deliveries`). Pending
deliveries are resumed at start-up, so delivery is at least once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx

from parley import __version__
from parley.net.outbound import OutboundError, OutboundPolicy, OutboundRefused
from parley.store import Store
from parley.store.webhooks import WebhookRecord
from parley.timeutil import iso, utcnow
from parley.webhooks import events as ev
from parley.webhooks.payloads import envelope, event_data
from parley.webhooks.signing import SIGNATURE_HEADER, signature

log = logging.getLogger("parley.webhooks")


@dataclass(frozen=True)
class DeliverySettings:
    timeout_s: float = 10.0  # one attempt, from connect to the end of the answer
    max_attempts: int = 6
    backoff_s: float = 2.0  # before the 2nd attempt; doubles each time
    max_backoff_s: float = 600.0
    concurrency: int = 32  # attempts in flight at once
    queue_size: int = 10_000  # events waiting for the dispatcher; more are dropped (logged)

    def backoff(self, attempt: int) -> float:
        """The wait after failed attempt number `attempt` (1-based)."""
        return min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1))


class WebhookService:
    def __init__(self, store: Store, policy: OutboundPolicy, settings: DeliverySettings) -> None:
        self._store = store
        self._policy = policy
        self.settings = settings
        self._queue: asyncio.Queue[ev.Event] = asyncio.Queue(settings.queue_size)
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None
        self._unsubscribe = store.events.subscribe(self.publish)

    # --- the store's side: never waits ----------------------------------------------

    def publish(self, event: ev.Event) -> None:
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            log.warning("webhook queue full: event %s of %s dropped", event.type, event.id)

    # --- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        self._client = httpx.AsyncClient(trust_env=False, follow_redirects=False)
        self._spawn(self._dispatch())
        for delivery, hook in await self._store.webhooks.pending():
            wait = 0.0
            if delivery.next_attempt_at is not None:
                wait = max(0.0, (delivery.next_attempt_at - utcnow()).total_seconds())
            self._spawn(
                self._deliver(
                    delivery.id, hook, delivery.event, delivery.body, delivery.attempts + 1, wait
                )
            )

    async def close(self) -> None:
        self._unsubscribe()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._client is not None:
            await self._client.aclose()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- dispatch -------------------------------------------------------------------

    async def _dispatch(self) -> None:
        while True:
            event = await self._queue.get()
            try:
                await self._fan_out(event)
            except Exception:
                log.exception("webhook dispatch of %s %s failed", event.type, event.id)

    async def _fan_out(self, event: ev.Event) -> None:
        rec = await self._store.conversations.get(event.conversation_id)
        if rec is None:
            return
        hooks = await self._store.webhooks.subscribed(rec.account_id, event.type)
        if not hooks:
            return
        payload = envelope(event, await event_data(self._store, event, rec))
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        for hook in hooks:
            delivery_id = await self._store.webhooks.add_delivery(
                hook.id, event.id, event.type, body
            )
            self._spawn(self._deliver(delivery_id, hook, event.type, body, 1, 0.0))

    # --- delivery -------------------------------------------------------------------

    async def _deliver(
        self, delivery_id: str, hook: WebhookRecord, event: str, body: str, first: int, wait: float
    ) -> None:
        s = self.settings
        if wait:
            await asyncio.sleep(wait)
        for attempt in range(first, s.max_attempts + 1):
            async with self._slots:
                outcome, refused = await self._attempt(delivery_id, hook, event, body)
            outcome["attempt"] = attempt
            ok = outcome["error"] is None
            last = refused or attempt >= s.max_attempts
            status = "delivered" if ok else ("failed" if last else "pending")
            next_at = (
                None if status != "pending" else utcnow() + timedelta(seconds=s.backoff(attempt))
            )
            await self._store.webhooks.record_attempt(delivery_id, outcome, status, next_at)
            if status != "pending":
                log.info(
                    "delivery %s %s %s after %d attempt(s)", delivery_id, event, status, attempt
                )
                return
            await asyncio.sleep(s.backoff(attempt))

    async def _attempt(
        self, delivery_id: str, hook: WebhookRecord, event: str, body: str
    ) -> tuple[dict[str, Any], bool]:
        """One POST: the attempt's record, and whether the target was refused."""
        assert self._client is not None
        raw = body.encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"parley-webhooks/{__version__}",
            "Parley-Event": event,
            "Parley-Delivery": delivery_id,
            SIGNATURE_HEADER: signature(hook.secret, raw),
        }
        started = time.monotonic()
        code: int | None = None
        error: str | None = None
        refused = False
        try:
            code, _, _ = await self._policy.fetch(
                self._client,
                "POST",
                hook.url,
                content=raw,
                headers=headers,
                max_bytes=64 * 1024,
                timeout=self.settings.timeout_s,
            )
            if not 200 <= code < 300:
                error = f"the receiver answered HTTP {code}"
        except OutboundRefused as exc:
            error, refused = str(exc), True
        except OutboundError as exc:  # e.g. an answer too large to read
            error = str(exc)
        except (TimeoutError, httpx.TimeoutException):
            error = f"no answer within {self.settings.timeout_s:g} s"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        elapsed = int((time.monotonic() - started) * 1000)
        return {
            "at": iso(utcnow()),
            "status_code": code,
            "error": error,
            "duration_ms": elapsed,
        }, refused
