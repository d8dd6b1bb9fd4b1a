"""`/v1/webhooks`: the account's event webhooks and what was delivered to them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from parley.api.auth import require_account
from parley.api.context import ServerContext, get_context
from parley.api.errors import ApiError, not_found
from parley.api.listing import LimitQ, OffsetQ
from parley.api.schemas import (
    CONFLICT_RESPONSES,
    ERROR_RESPONSES,
    DeliveryAttempt,
    DeliveryList,
    DeliveryOut,
    WebhookCreate,
    WebhookCreated,
    WebhookDeleted,
    WebhookList,
    WebhookOut,
)
from parley.net.outbound import OutboundPolicy, OutboundRefused
from parley.store.webhooks import MAX_WEBHOOKS_PER_ACCOUNT, DeliveryRecord, WebhookRecord
from parley.timeutil import iso
from parley.webhooks.events import EVENT_TYPES
from parley.webhooks.signing import new_secret

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


def webhook_out(rec: WebhookRecord) -> dict[str, Any]:
    return WebhookOut(
        id=rec.id, url=rec.url, events=list(rec.events), created_at=iso(rec.created_at) or ""
    ).model_dump()


def delivery_out(rec: DeliveryRecord) -> dict[str, Any]:
    return DeliveryOut(
        id=rec.id,
        webhook_id=rec.webhook_id,
        event_id=rec.event_id,
        event=rec.event,
        status=rec.status,
        attempts=rec.attempts,
        status_code=rec.status_code,
        error=rec.error,
        created_at=iso(rec.created_at) or "",
        completed_at=iso(rec.completed_at),
        next_attempt_at=iso(rec.next_attempt_at) if rec.status == "pending" else None,
        attempt_log=[DeliveryAttempt(**a) for a in rec.attempt_log],
    ).model_dump()


def _page(data: list[dict[str, Any]], total: int, limit: int, offset: int) -> dict[str, Any]:
    return {
        "data": data,
        "total": total,
        "limit": limit,
        "offset": offset,
        "has_more": offset + len(data) < total,
        "next_cursor": None,
    }


@router.post("", response_model=WebhookCreated, responses=CONFLICT_RESPONSES)
async def create_webhook(
    body: WebhookCreate,
    account: str = Depends(require_account),
    ctx: ServerContext = Depends(get_context),
) -> dict[str, Any]:
    """Register a URL for events; the answer holds the signing `secret`, shown only now."""
    events = list(dict.fromkeys(body.events))
    for event in events:
        if event not in EVENT_TYPES:
            raise ApiError(
                400, f"Unknown event {event!r}: one of {', '.join(EVENT_TYPES)}.", "events"
            )
    try:
        await OutboundPolicy.from_settings(ctx.settings).check_url(body.url)
    except OutboundRefused as exc:
        raise ApiError(400, f"Invalid 'url': {exc}", "url") from None
    if await ctx.store.webhooks.count(account) >= MAX_WEBHOOKS_PER_ACCOUNT:
        raise ApiError(409, f"An account has at most {MAX_WEBHOOKS_PER_ACCOUNT} webhooks.", "url")
    rec = await ctx.store.webhooks.create(account, body.url, events, new_secret())
    return webhook_out(rec) | {"secret": rec.secret}


@router.get("", response_model=WebhookList, responses=ERROR_RESPONSES)
async def list_webhooks(
    limit: int = LimitQ,
    offset: int = OffsetQ,
    account: str = Depends(require_account),
    ctx: ServerContext = Depends(get_context),
) -> dict[str, Any]:
    """The account's webhooks, oldest first (secrets are not shown again)."""
    hooks, total = await ctx.store.webhooks.list_page(account, limit, offset)
    return _page([webhook_out(h) for h in hooks], total, limit, offset)


@router.get("/{webhook_id}", response_model=WebhookOut, responses=ERROR_RESPONSES)
async def get_webhook(
    webhook_id: str,
    account: str = Depends(require_account),
    ctx: ServerContext = Depends(get_context),
) -> dict[str, Any]:
    rec = await ctx.store.webhooks.get(webhook_id, account)
    if rec is None:
        raise not_found("webhook", webhook_id, "webhook_id")
    return webhook_out(rec)


@router.delete("/{webhook_id}", response_model=WebhookDeleted, responses=ERROR_RESPONSES)
async def delete_webhook(
    webhook_id: str,
    account: str = Depends(require_account),
    ctx: ServerContext = Depends(get_context),
) -> dict[str, Any]:
    """Stop delivering to it (its delivery records go with it)."""
    if not await ctx.store.webhooks.delete(webhook_id, account):
        raise not_found("webhook", webhook_id, "webhook_id")
    return {"id": webhook_id, "deleted": True}


@router.get("/{webhook_id}/deliveries", response_model=DeliveryList, responses=ERROR_RESPONSES)
async def list_deliveries(
    webhook_id: str,
    limit: int = LimitQ,
    offset: int = OffsetQ,
    account: str = Depends(require_account),
    ctx: ServerContext = Depends(get_context),
) -> dict[str, Any]:
    """Deliveries, newest first: status (pending | delivered | failed), attempts, each
    attempt's status code, error and duration."""
    if await ctx.store.webhooks.get(webhook_id, account) is None:
        raise not_found("webhook", webhook_id, "webhook_id")
    rows, total = await ctx.store.webhooks.deliveries(webhook_id, limit, offset)
    return _page([delivery_out(d) for d in rows], total, limit, offset)
