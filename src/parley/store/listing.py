"""Listing conversations (and agent sessions): filters, a stable order, keyset pages.

Rows are ordered by (created_at, id), newest first by default. A page after a cursor is
"rows strictly past this (created_at, id)", so rows added while a client pages through
never make a row appear twice or be skipped (an offset would shift under them).
Metadata filters match `metadata[key]` as text, with SQLAlchemy's JSON index (SQLite's
json_extract, PostgreSQL's ->>), so they work on both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, String, and_, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.store.tables import Conversation, Turn
from parley.timeutil import utcnow

LIVE = ("ready", "active")


@dataclass(frozen=True)
class ConversationQuery:
    account_id: str
    agent_id: str | None = None
    status: str | None = None
    # agent-session statuses (active | ended | expired, with expiry computed) instead of
    # the stored ones (ready | active | ended)
    session_statuses: bool = False
    created_after: datetime | None = None
    created_before: datetime | None = None
    metadata: Sequence[tuple[str, str]] = field(default_factory=tuple)
    agent_sessions_only: bool = False


@dataclass(frozen=True)
class PageRequest:
    limit: int
    offset: int = 0
    after: tuple[datetime, str] | None = None  # keyset cursor: (created_at, id) of the last
    newest_first: bool = True


def _status_clause(query: ConversationQuery) -> ColumnElement[bool] | None:
    if query.status is None:
        return None
    if not query.session_statuses:
        return Conversation.status == query.status
    now = utcnow()
    not_expired = or_(Conversation.expires_at.is_(None), Conversation.expires_at > now)
    if query.status == "active":
        return and_(Conversation.status.in_(LIVE), not_expired)
    if query.status == "expired":
        return or_(
            Conversation.status == "expired",
            and_(Conversation.status.in_(LIVE), Conversation.expires_at <= now),
        )
    return Conversation.status == query.status


def _filters(query: ConversationQuery) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = [Conversation.account_id == query.account_id]
    if query.agent_id is not None:
        out.append(Conversation.agent_id == query.agent_id)
    if query.agent_sessions_only:
        out.append(Conversation.agent_id.is_not(None))
    if (status := _status_clause(query)) is not None:
        out.append(status)
    if query.created_after is not None:
        out.append(Conversation.created_at > query.created_after)
    if query.created_before is not None:
        out.append(Conversation.created_at < query.created_before)
    for key, value in query.metadata:
        out.append(cast(Conversation.metadata_[key].as_string(), String) == value)
    return out


def _keyset(page: PageRequest) -> ColumnElement[bool] | None:
    if page.after is None:
        return None
    created, ident = page.after
    if page.newest_first:
        return or_(
            Conversation.created_at < created,
            and_(Conversation.created_at == created, Conversation.id < ident),
        )
    return or_(
        Conversation.created_at > created,
        and_(Conversation.created_at == created, Conversation.id > ident),
    )


async def list_conversations(
    s: AsyncSession, query: ConversationQuery, page: PageRequest
) -> tuple[list[tuple[Conversation, int]], int, bool]:
    """The page's rows with their turn counts, the filtered total, and whether more follow."""
    where = _filters(query)
    total_q = select(func.count()).select_from(Conversation).where(*where)
    total = int((await s.execute(total_q)).scalar_one())
    turns = (
        select(func.count())
        .select_from(Turn)
        .where(Turn.conversation_id == Conversation.id)
        .correlate(Conversation)
        .scalar_subquery()
    )
    order: Any = (
        (Conversation.created_at.desc(), Conversation.id.desc())
        if page.newest_first
        else (Conversation.created_at.asc(), Conversation.id.asc())
    )
    q = select(Conversation, turns).where(*where).order_by(*order)
    if (keyset := _keyset(page)) is not None:
        q = q.where(keyset)
    elif page.offset:
        q = q.offset(page.offset)
    rows = [(row, int(n)) for row, n in (await s.execute(q.limit(page.limit + 1))).all()]
    has_more = len(rows) > page.limit
    return rows[: page.limit], total, has_more
