"""Short-lived, session-scoped stream tokens: what a browser page holds instead of an
API key. A token opens one session's stream once (single use), until it or the session
expires, and allows only its scopes on the stream (README "Security")."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from parley.store.keys import hash_key
from parley.store.tables import StreamToken
from parley.timeutil import utcnow

PREFIX = "pst_"
RESUME_PREFIX = "psr_"


@dataclass(frozen=True)
class Grant:
    """What a stream token lets its holder do: whose session, which messages."""

    account_id: str
    scopes: frozenset[str]
    expires_at: datetime


def _new(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(24).replace("-", "A").replace("_", "B")


class StreamTokenStore:
    def __init__(self, sm: async_sessionmaker[Any]) -> None:
        self._sm = sm

    async def mint(
        self,
        account_id: str,
        session_id: str,
        ttl_s: int,
        scopes: frozenset[str] = frozenset(),
        not_after: datetime | None = None,
        prefix: str = PREFIX,
    ) -> tuple[str, datetime]:
        """A new token; it expires after `ttl_s` or at `not_after` (the session's end)."""
        token = _new(prefix)
        expires = utcnow() + timedelta(seconds=ttl_s)
        if not_after is not None:
            expires = min(expires, not_after)
        async with self._sm.begin() as s:
            await s.execute(
                delete(StreamToken).where(
                    or_(StreamToken.expires_at < utcnow(), StreamToken.used_at.is_not(None))
                )
            )
            s.add(
                StreamToken(
                    token_hash=hash_key(token),
                    account_id=account_id,
                    session_id=session_id,
                    expires_at=expires,
                    scopes=",".join(sorted(scopes)),
                )
            )
        return token, expires

    async def claim(self, token: str, session_id: str) -> Grant | None:
        """Use the token to open this session's stream: the grant, once; None if it is
        unknown, for another session, expired or already used."""
        if not token.startswith((PREFIX, RESUME_PREFIX)) or len(token) > 200:
            return None
        now = utcnow()
        async with self._sm.begin() as s:
            row = (
                await s.execute(
                    update(StreamToken)
                    .where(
                        StreamToken.token_hash == hash_key(token),
                        StreamToken.session_id == session_id,
                        StreamToken.expires_at > now,
                        StreamToken.used_at.is_(None),
                    )
                    .values(used_at=now)
                    .returning(StreamToken.account_id, StreamToken.scopes, StreamToken.expires_at)
                )
            ).first()
        if row is None:
            return None
        scopes = frozenset(p for p in str(row[1]).split(",") if p)
        return Grant(account_id=str(row[0]), scopes=scopes, expires_at=row[2])

    async def verify(self, token: str, session_id: str) -> str | None:
        """The account the token speaks for (claiming it); see `claim`."""
        grant = await self.claim(token, session_id)
        return grant.account_id if grant else None
