"""Conversations (and agent sessions) and their turns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parley import ids
from parley.store.listing import ConversationQuery, PageRequest, list_conversations
from parley.store.records import ConversationRecord, ToolDef, TurnRecord
from parley.store.tables import Conversation, Turn
from parley.timeutil import utcnow
from parley.webhooks import events as ev

LIVE_STATUSES = ("ready", "active")


def _turn_record(row: Turn) -> TurnRecord:
    return TurnRecord(
        seq=row.seq,
        turn_id=ids.turn_id(row.seq),
        role=row.role,
        text=row.text,
        timestamp=row.timestamp,
        duration_ms=row.duration_ms,
        latency_ms=row.latency_ms,
        interrupted=row.interrupted,
        meta=row.meta,
    )


def _record(row: Conversation, total_turns: int) -> ConversationRecord:
    return ConversationRecord(
        id=row.id,
        account_id=row.account_id,
        agent_id=row.agent_id,
        voice_id=row.voice_id,
        system_prompt=row.system_prompt,
        language=row.language,
        tools=tuple(ToolDef.from_json(t) for t in row.tools or []),
        context_window=row.context_window,
        max_turns=row.max_turns,
        status=row.status,
        created_at=row.created_at,
        last_activity_at=row.last_activity_at,
        started_at=row.started_at,
        ended_at=row.ended_at,
        expires_at=row.expires_at,
        metadata=row.metadata_,
        initial_message=row.initial_message,
        settings=dict(row.settings or {}),
        total_turns=total_turns,
    )


async def _count_turns(s: AsyncSession, conversation_id: str) -> int:
    q = select(func.count()).select_from(Turn).where(Turn.conversation_id == conversation_id)
    return int((await s.execute(q)).scalar_one())


class ConversationStore:
    """Every path that starts, extends or ends a conversation goes through here, so the
    store is where conversation events are published (`events`, after each commit)."""

    def __init__(self, sm: async_sessionmaker[Any], events: ev.EventBus | None = None) -> None:
        self._sm = sm
        self.events = events or ev.EventBus()

    async def create(
        self,
        *,
        account_id: str,
        voice_id: str,
        system_prompt: str,
        language: str,
        tools: list[ToolDef],
        context_window: int,
        max_turns: int | None,
        agent_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        initial_message: str | None = None,
        expires_at: datetime | None = None,
        settings: dict[str, Any] | None = None,
        conversation_id: str | None = None,
    ) -> ConversationRecord:
        """A new conversation; `conversation_id` is one the caller announced already (a
        transport whose hello names the session before its settings arrive)."""
        now = utcnow()
        prefix = ids.AGENT_SESSION if agent_id else ids.CONVERSATION
        row = Conversation(
            id=conversation_id or ids.new_id(prefix),
            account_id=account_id,
            agent_id=agent_id,
            voice_id=voice_id,
            system_prompt=system_prompt,
            language=language,
            tools=[t.to_json() for t in tools],
            context_window=context_window,
            max_turns=max_turns,
            status="ready",
            metadata_=metadata,
            initial_message=initial_message,
            settings=settings or {},
            created_at=now,
            last_activity_at=now,
            expires_at=expires_at,
        )
        async with self._sm.begin() as s:
            s.add(row)
        return _record(row, 0)

    async def get(
        self, conversation_id: str, account_id: str | None = None
    ) -> ConversationRecord | None:
        """The conversation, or None; scoped to `account_id` when given (no existence leak)."""
        async with self._sm() as s:
            row = await s.get(Conversation, conversation_id)
            if row is None or (account_id is not None and row.account_id != account_id):
                return None
            return _record(row, await _count_turns(s, conversation_id))

    async def mark_active(self, conversation_id: str) -> None:
        """A stream connected: the session is `active` (the first time: `started`)."""
        now = utcnow()
        async with self._sm.begin() as s:
            row = await s.get(Conversation, conversation_id)
            if row is None or row.status not in LIVE_STATUSES:
                return
            first = row.started_at is None
            row.status = "active"
            row.started_at = row.started_at or now
            row.last_activity_at = now
        if first:
            self.events.publish(ev.Event(ev.CONVERSATION_STARTED, conversation_id))

    async def claim(self, conversation_id: str, server_id: str) -> str | None:
        """`server_id` now holds the session live (`parley.peers`); the server that held
        it before, if another one."""
        async with self._sm.begin() as s:
            row = await s.get(Conversation, conversation_id, with_for_update=True)
            if row is None:
                return None
            before, row.live_on = row.live_on, server_id
        return before if before not in (None, server_id) else None

    async def holder(self, conversation_id: str) -> str | None:
        """The server holding the session live, if any."""
        async with self._sm() as s:
            q = select(Conversation.live_on).where(Conversation.id == conversation_id)
            return (await s.execute(q)).scalar_one_or_none()

    async def let_go(self, conversation_id: str, server_id: str) -> None:
        """`server_id` no longer holds the session (unless another server took it)."""
        async with self._sm.begin() as s:
            await s.execute(
                update(Conversation)
                .where(Conversation.id == conversation_id, Conversation.live_on == server_id)
                .values(live_on=None)
            )

    async def end(
        self, conversation_id: str, status: str = "ended", reason: str = "ended"
    ) -> ConversationRecord | None:
        """End a live conversation (idempotent: an ended one is returned as it is).
        `reason` (`deleted`, `max_turns`, `agent_deleted`, …) goes into the event."""
        async with self._sm.begin() as s:
            row = await s.get(Conversation, conversation_id)
            if row is None:
                return None
            ending = row.status in LIVE_STATUSES
            if ending:
                row.status = status
                row.ended_at = utcnow()
            total = await _count_turns(s, conversation_id)
        if ending:
            self.events.publish(
                ev.Event(ev.CONVERSATION_ENDED, conversation_id, {"reason": reason})
            )
        return _record(row, total)

    async def update_settings(self, conversation_id: str, **changes: Any) -> None:
        """Change persona fields (`system_prompt`, `voice_id`) or keys of `settings`."""
        async with self._sm.begin() as s:
            row = await s.get(Conversation, conversation_id)
            if row is None:
                return
            for key in ("system_prompt", "voice_id"):
                if key in changes:
                    setattr(row, key, changes.pop(key))
            if changes:
                row.settings = {**(row.settings or {}), **changes}
            row.last_activity_at = utcnow()

    async def append_turn(
        self,
        conversation_id: str,
        *,
        seq: int | None = None,
        role: str,
        text: str,
        timestamp: datetime,
        duration_ms: int,
        latency_ms: int | None = None,
        interrupted: bool = False,
        meta: dict[str, Any] | None = None,
    ) -> TurnRecord:
        """Store a completed turn durably and return it with its `turn_id`.

        `seq` is the number the live conversation reserved for it (`engine/ledger.py`
        owns a live conversation's turn ids); without one, the next free number."""
        async with self._sm.begin() as s:
            # Write to the conversation's row first: it locks the row (PostgreSQL) or the
            # database (SQLite) until commit, so two processes appending at once take
            # turns here instead of both reading the same max(seq).
            await s.execute(
                update(Conversation)
                .where(Conversation.id == conversation_id)
                .values(last_activity_at=utcnow())
            )
            if seq is None:
                q = select(func.coalesce(func.max(Turn.seq), 0)).where(
                    Turn.conversation_id == conversation_id
                )
                seq = int((await s.execute(q)).scalar_one()) + 1
            row = Turn(
                conversation_id=conversation_id,
                seq=seq,
                role=role,
                text=text,
                timestamp=timestamp,
                duration_ms=duration_ms,
                latency_ms=latency_ms,
                interrupted=interrupted,
                meta=meta,
            )
            s.add(row)
        turn = _turn_record(row)
        self.events.publish(ev.Event(ev.TURN_COMPLETED, conversation_id, {"turn": turn}))
        for call in (meta or {}).get("tool_calls") or []:
            if isinstance(call, dict) and call.get("error") is not None:
                data = {"turn_id": turn.turn_id, "call": call}
                self.events.publish(ev.Event(ev.TOOL_FAILED, conversation_id, data))
        return turn

    async def turns(self, conversation_id: str, last: int | None = None) -> list[TurnRecord]:
        """All turns in order, or only the `last` n."""
        async with self._sm() as s:
            q = select(Turn).where(Turn.conversation_id == conversation_id)
            if last is not None:
                q = q.order_by(Turn.seq.desc()).limit(last)
                rows = list(reversed((await s.execute(q)).scalars().all()))
            else:
                rows = list((await s.execute(q.order_by(Turn.seq))).scalars().all())
        return [_turn_record(r) for r in rows]

    async def search(
        self, query: ConversationQuery, page: PageRequest
    ) -> tuple[list[ConversationRecord], int, bool]:
        """A page of conversations (see `store.listing`): records, total, more to come."""
        async with self._sm() as s:
            rows, total, more = await list_conversations(s, query, page)
        return [_record(row, n) for row, n in rows], total, more

    async def live_ids_of_agent(self, agent_id: str) -> list[str]:
        async with self._sm() as s:
            q = select(Conversation.id).where(
                Conversation.agent_id == agent_id, Conversation.status.in_(LIVE_STATUSES)
            )
            return list((await s.execute(q)).scalars().all())

    async def close_abandoned(self, started_before: datetime, created_before: datetime) -> int:
        """End the sessions left live in the store that nothing can be running any more:
        started before `started_before` (past any server's maximum duration), never
        connected and created before `created_before`, or past their `expires_at`."""
        now = utcnow()
        async with self._sm.begin() as s:
            q = select(Conversation.id, Conversation.expires_at).where(
                Conversation.status.in_(LIVE_STATUSES),
                (Conversation.started_at < started_before)
                | (Conversation.started_at.is_(None) & (Conversation.created_at < created_before))
                | (Conversation.expires_at < now),
            )
            stale = list((await s.execute(q)).all())
        for conversation_id, expires_at in stale:
            expired = expires_at is not None and expires_at <= now
            status = "expired" if expired else "ended"
            await self.end(conversation_id, status, status if expired else "abandoned")
        return len(stale)

    async def purge_ended_before(self, cutoff: datetime) -> int:
        """Delete conversations that ended before `cutoff`, with their turns."""
        async with self._sm.begin() as s:
            q = select(Conversation.id).where(
                Conversation.status.not_in(LIVE_STATUSES), Conversation.ended_at < cutoff
            )
            doomed = list((await s.execute(q)).scalars().all())
            if doomed:
                await s.execute(delete(Turn).where(Turn.conversation_id.in_(doomed)))
                await s.execute(delete(Conversation).where(Conversation.id.in_(doomed)))
        return len(doomed)
