"""The store on SQLite and PostgreSQL: migrations, turns, purge."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from parley.store import Store
from parley.store.purge import purge_once
from parley.timeutil import utcnow
from tests.harness import fresh_database_url

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    url = fresh_database_url(request.param, tmp_path)
    s = await Store.open(url)
    await Store.open(url)  # migrating twice is harmless
    yield s
    await s.close()


async def new_conversation(store: Store, account: str) -> str:
    rec = await store.conversations.create(
        account_id=account,
        voice_id="espeak-en-us-female",
        system_prompt="Hi",
        language="en",
        tools=[],
        context_window=50,
        max_turns=None,
    )
    return rec.id


async def test_turns_are_numbered_and_ordered(store: Store) -> None:
    account, _key = await store.keys.create_account_with_key()
    cid = await new_conversation(store, account)
    now = utcnow()
    t1 = await store.conversations.append_turn(
        cid, role="user", text="Hello", timestamp=now, duration_ms=900
    )
    t2 = await store.conversations.append_turn(
        cid,
        role="assistant",
        text="Hi there",
        timestamp=now,
        duration_ms=1200,
        latency_ms=310,
        interrupted=True,
        meta={"latency": {"llm_first_token_ms": 120}},
    )
    assert (t1.turn_id, t2.turn_id) == ("turn_001", "turn_002")
    turns = await store.conversations.turns(cid)
    assert [t.text for t in turns] == ["Hello", "Hi there"]
    assert turns[1].interrupted and turns[1].latency_ms == 310
    assert turns[1].meta == {"latency": {"llm_first_token_ms": 120}}
    assert [t.turn_id for t in await store.conversations.turns(cid, last=1)] == ["turn_002"]
    rec = await store.conversations.get(cid)
    assert rec is not None and rec.total_turns == 2


async def test_keys_are_hashed_and_scoped(store: Store) -> None:
    account, key = await store.keys.create_account_with_key("x")
    assert await store.keys.authenticate(key) == account
    assert await store.keys.authenticate(key + "x") is None
    assert await store.keys.authenticate("") is None
    from sqlalchemy import text

    async with store.engine.connect() as conn:
        stored = (await conn.execute(text("SELECT key_hash FROM api_keys"))).scalars().all()
    assert key not in stored and all(len(h) == 64 for h in stored)
    assert await store.keys.ensure_bootstrap_key("boot-key") == "acct_default"
    assert await store.keys.ensure_bootstrap_key("boot-key") == "acct_default"
    cid = await new_conversation(store, account)
    assert await store.conversations.get(cid, "acct_default") is None
    assert await store.conversations.get(cid, account) is not None


async def test_purge_removes_only_old_ended_history(store: Store) -> None:
    account, _ = await store.keys.create_account_with_key()
    ids = [await new_conversation(store, account) for _ in range(3)]
    old, recent, live = ids
    for cid in (old, recent):
        await store.conversations.append_turn(
            cid, role="user", text="x", timestamp=utcnow(), duration_ms=1
        )
        await store.conversations.end(cid)
    from sqlalchemy import update

    from parley.store.tables import Conversation

    async with store.engine.begin() as conn:
        await conn.execute(
            update(Conversation)
            .where(Conversation.id == old)
            .values(ended_at=utcnow() - timedelta(days=31))
        )
    assert await purge_once(store, retention_days=30) == 1
    assert await store.conversations.get(old) is None
    assert await store.conversations.turns(old) == []
    assert (await store.conversations.get(recent)) is not None
    assert (await store.conversations.get(live)) is not None


async def test_sessions_abandoned_live_are_ended_and_their_history_kept(store: Store) -> None:
    """A session left `active` by a server that died (kill -9, a lost machine), one never
    connected to, and an agent session past its `expires_at` are ended by the periodic
    job; a session started recently is left alone. History is kept."""
    from sqlalchemy import update

    from parley.store.purge import Abandoned, close_abandoned
    from parley.store.tables import Conversation

    account, _ = await store.keys.create_account_with_key()
    crashed, unstarted, expired, running = [
        await new_conversation(store, account) for _ in range(4)
    ]
    hours_ago = utcnow() - timedelta(hours=3)
    async with store.engine.begin() as conn:
        for cid, values in (
            (crashed, {"status": "active", "started_at": hours_ago}),
            (unstarted, {"created_at": utcnow() - timedelta(days=2)}),
            (expired, {"status": "active", "started_at": utcnow(), "expires_at": hours_ago}),
            (running, {"status": "active", "started_at": utcnow() - timedelta(minutes=30)}),
        ):
            await conn.execute(update(Conversation).where(Conversation.id == cid).values(**values))
    await store.conversations.append_turn(
        crashed, role="user", text="Hello?", timestamp=utcnow(), duration_ms=1
    )
    assert await close_abandoned(store, Abandoned(max_duration_s=3600)) == 3
    got = {
        cid: await store.conversations.get(cid) for cid in (crashed, unstarted, expired, running)
    }
    assert {cid: r.status for cid, r in got.items() if r} == {
        crashed: "ended",
        unstarted: "ended",
        expired: "expired",
        running: "active",
    }
    assert [t.text for t in await store.conversations.turns(crashed)] == ["Hello?"]
    assert await close_abandoned(store, Abandoned(max_duration_s=3600)) == 0
