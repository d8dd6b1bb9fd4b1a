"""The store publishes each conversation event once, after its commit; webhook records
and their deliveries (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from parley.store import Store
from parley.store.purge import purge_once
from parley.store.tables import WebhookDelivery
from parley.timeutil import utcnow
from parley.webhooks.events import Event
from tests.store.test_store import new_conversation, store  # noqa: F401 - the fixture


async def test_events_are_published_once_each(store: Store) -> None:  # noqa: F811
    seen: list[Event] = []
    store.events.subscribe(seen.append)
    account, _ = await store.keys.create_account_with_key()
    cid = await new_conversation(store, account)
    await store.conversations.mark_active(cid)
    await store.conversations.mark_active(cid)  # a reconnection: no second "started"
    await store.conversations.append_turn(
        cid, role="user", text="Where is A42?", timestamp=utcnow(), duration_ms=900
    )
    calls = [
        {"call_id": "c1", "name": "lookup", "arguments": {}, "result": {"ok": True}},
        {"call_id": "c2", "name": "lookup", "arguments": {"id": 2}, "error": "timed out"},
    ]
    await store.conversations.append_turn(
        cid,
        role="assistant",
        text="Sorry.",
        timestamp=utcnow(),
        duration_ms=500,
        meta={"tool_calls": calls},
    )
    await store.conversations.end(cid, reason="max_turns")
    await store.conversations.end(cid, reason="deleted")  # idempotent: no second "ended"
    assert [e.type for e in seen] == [
        "conversation.started",
        "turn.completed",
        "turn.completed",
        "tool.failed",
        "conversation.ended",
    ]
    assert all(e.conversation_id == cid and e.id.startswith("evt_") for e in seen)
    assert seen[3].data == {"turn_id": "turn_002", "call": calls[1]}
    assert seen[4].data == {"reason": "max_turns"}
    assert seen[2].data["turn"].text == "Sorry."


async def test_a_failing_subscriber_does_not_break_the_store(store: Store) -> None:  # noqa: F811
    def broken(event: Event) -> None:
        raise RuntimeError("subscriber bug")

    store.events.subscribe(broken)
    account, _ = await store.keys.create_account_with_key()
    cid = await new_conversation(store, account)
    await store.conversations.mark_active(cid)
    assert (await store.conversations.end(cid)) is not None


async def test_deliveries_are_recorded_resumed_and_purged(store: Store) -> None:  # noqa: F811
    account, _ = await store.keys.create_account_with_key()
    hook = await store.webhooks.create(
        account, "https://93.184.216.34/h", ["conversation.ended"], "whsec_x"
    )
    assert [h.id for h in await store.webhooks.subscribed(account, "conversation.ended")] == [
        hook.id
    ]
    assert await store.webhooks.subscribed(account, "turn.completed") == []
    done = await store.webhooks.add_delivery(hook.id, "evt_1", "conversation.ended", "{}")
    waiting = await store.webhooks.add_delivery(hook.id, "evt_2", "conversation.ended", "{}")
    attempt = {"attempt": 1, "at": "x", "status_code": 200, "error": None, "duration_ms": 3}
    await store.webhooks.record_attempt(done, attempt, "delivered", None)
    failed = {**attempt, "status_code": 500, "error": "HTTP 500"}
    await store.webhooks.record_attempt(waiting, failed, "pending", utcnow())
    pending = await store.webhooks.pending()
    assert [(d.id, d.attempts, h.id) for d, h in pending] == [(waiting, 1, hook.id)]
    rows, total = await store.webhooks.deliveries(hook.id, 10, 0)
    assert total == 2 and {r.id: r.status for r in rows} == {done: "delivered", waiting: "pending"}
    async with store.engine.begin() as conn:
        await conn.execute(
            update(WebhookDelivery).values(completed_at=utcnow() - timedelta(days=31))
        )
    await purge_once(store, retention_days=30)
    rows, total = await store.webhooks.deliveries(hook.id, 10, 0)
    assert [r.id for r in rows] == [waiting]  # a pending one is kept
    assert await store.webhooks.delete(hook.id, "acct_other") is False
    assert await store.webhooks.delete(hook.id, account) is True
    assert await store.webhooks.pending() == []
