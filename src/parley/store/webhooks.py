"""Event webhooks of an account, and the record of their deliveries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from parley import ids
from parley.store.tables import Webhook, WebhookDelivery
from parley.timeutil import utcnow

MAX_WEBHOOKS_PER_ACCOUNT = 20


@dataclass(frozen=True)
class WebhookRecord:
    id: str
    account_id: str
    url: str
    events: tuple[str, ...]
    secret: str
    created_at: datetime


@dataclass(frozen=True)
class DeliveryRecord:
    id: str
    webhook_id: str
    event_id: str
    event: str
    body: str
    status: str  # pending | delivered | failed
    attempts: int
    status_code: int | None
    error: str | None
    attempt_log: tuple[dict[str, Any], ...]
    created_at: datetime
    next_attempt_at: datetime | None
    completed_at: datetime | None


def _hook(row: Webhook) -> WebhookRecord:
    return WebhookRecord(
        row.id, row.account_id, row.url, tuple(row.events or ()), row.secret, row.created_at
    )


def _delivery(row: WebhookDelivery) -> DeliveryRecord:
    return DeliveryRecord(
        id=row.id,
        webhook_id=row.webhook_id,
        event_id=row.event_id,
        event=row.event,
        body=row.body,
        status=row.status,
        attempts=row.attempts,
        status_code=row.status_code,
        error=row.error,
        attempt_log=tuple(row.attempt_log or ()),
        created_at=row.created_at,
        next_attempt_at=row.next_attempt_at,
        completed_at=row.completed_at,
    )


class WebhookStore:
    def __init__(self, sm: async_sessionmaker[Any]) -> None:
        self._sm = sm

    async def count(self, account_id: str) -> int:
        async with self._sm() as s:
            q = select(func.count()).select_from(Webhook).where(Webhook.account_id == account_id)
            return int((await s.execute(q)).scalar_one())

    async def create(
        self, account_id: str, url: str, events: list[str], secret: str
    ) -> WebhookRecord:
        row = Webhook(
            id=ids.new_id("whk"),
            account_id=account_id,
            url=url,
            events=list(events),
            secret=secret,
            created_at=utcnow(),
        )
        async with self._sm.begin() as s:
            s.add(row)
        return _hook(row)

    async def get(self, webhook_id: str, account_id: str) -> WebhookRecord | None:
        async with self._sm() as s:
            row = await s.get(Webhook, webhook_id)
            if row is None or row.account_id != account_id:
                return None
            return _hook(row)

    async def list_page(
        self, account_id: str, limit: int, offset: int
    ) -> tuple[list[WebhookRecord], int]:
        """A page of the account's webhooks, oldest first, and the total."""
        mine = Webhook.account_id == account_id
        async with self._sm() as s:
            total = int(
                (
                    await s.execute(select(func.count()).select_from(Webhook).where(mine))
                ).scalar_one()
            )
            q = select(Webhook).where(mine).order_by(Webhook.created_at, Webhook.id)
            rows = (await s.execute(q.limit(limit).offset(offset))).scalars().all()
        return [_hook(r) for r in rows], total

    async def delete(self, webhook_id: str, account_id: str) -> bool:
        async with self._sm.begin() as s:
            row = await s.get(Webhook, webhook_id)
            if row is None or row.account_id != account_id:
                return False
            await s.execute(delete(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id))
            await s.delete(row)
        return True

    async def subscribed(self, account_id: str, event: str) -> list[WebhookRecord]:
        """The account's webhooks that want `event`."""
        async with self._sm() as s:
            q = select(Webhook).where(Webhook.account_id == account_id)
            rows = (await s.execute(q)).scalars().all()
        return [_hook(r) for r in rows if event in (r.events or ())]

    # --- deliveries -------------------------------------------------------------------

    async def add_delivery(self, webhook_id: str, event_id: str, event: str, body: str) -> str:
        row = WebhookDelivery(
            id=ids.new_id("dlv"),
            webhook_id=webhook_id,
            event_id=event_id,
            event=event,
            body=body,
            status="pending",
            attempts=0,
            attempt_log=[],
            created_at=utcnow(),
            next_attempt_at=utcnow(),
        )
        async with self._sm.begin() as s:
            s.add(row)
        return row.id

    async def record_attempt(
        self,
        delivery_id: str,
        attempt: dict[str, Any],
        status: str,
        next_attempt_at: datetime | None,
    ) -> None:
        """Note one attempt (`{"attempt", "at", "status_code", "error", "duration_ms"}`)."""
        async with self._sm.begin() as s:
            row = await s.get(WebhookDelivery, delivery_id)
            if row is None:  # the webhook was deleted meanwhile
                return
            row.attempts = int(attempt["attempt"])
            row.status_code = attempt.get("status_code")
            row.error = attempt.get("error")
            row.attempt_log = [*(row.attempt_log or []), attempt]
            row.status = status
            row.next_attempt_at = next_attempt_at
            if status != "pending":
                row.completed_at = utcnow()

    async def deliveries(
        self, webhook_id: str, limit: int, offset: int
    ) -> tuple[list[DeliveryRecord], int]:
        """A page of the webhook's deliveries, newest first, and the total."""
        mine = WebhookDelivery.webhook_id == webhook_id
        async with self._sm() as s:
            total = int(
                (
                    await s.execute(select(func.count()).select_from(WebhookDelivery).where(mine))
                ).scalar_one()
            )
            q = (
                select(WebhookDelivery)
                .where(mine)
                .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
            )
            rows = (await s.execute(q.limit(limit).offset(offset))).scalars().all()
        return [_delivery(r) for r in rows], total

    async def pending(self) -> list[tuple[DeliveryRecord, WebhookRecord]]:
        """Deliveries still to be made (to resume them after a restart)."""
        async with self._sm() as s:
            q = (
                select(WebhookDelivery, Webhook)
                .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
                .where(WebhookDelivery.status == "pending")
                .order_by(WebhookDelivery.created_at)
            )
            rows = (await s.execute(q)).all()
        return [(_delivery(d), _hook(h)) for d, h in rows]

    async def purge_before(self, cutoff: datetime) -> int:
        async with self._sm.begin() as s:
            result = await s.execute(
                delete(WebhookDelivery).where(
                    WebhookDelivery.status != "pending", WebhookDelivery.completed_at < cutoff
                )
            )
        return int(getattr(result, "rowcount", 0) or 0)
