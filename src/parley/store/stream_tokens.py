"""Short-lived, session-scoped stream tokens: what a browser page holds instead of an
API key. A token opens one session's stream until it expires, and nothing else."""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from parley.store.keys import hash_key
from parley.store.tables import StreamToken
from parley.timeutil import utcnow

PREFIX = "pst_"


class StreamTokenStore:
    def __init__(self, sm: async_sessionmaker[Any]) -> None:
        self._sm = sm

    async def mint(self, account_id: str, session_id: str, ttl_s: int) -> tuple[str, datetime]:
        token = PREFIX + secrets.token_urlsafe(24).replace("-", "A").replace("_", "B")
        expires = utcnow() + timedelta(seconds=ttl_s)
        async with self._sm.begin() as s:
            await s.execute(delete(StreamToken).where(StreamToken.expires_at < utcnow()))
            s.add(
                StreamToken(
                    token_hash=hash_key(token),
                    account_id=account_id,
                    session_id=session_id,
                    expires_at=expires,
                )
            )
        return token, expires

    async def verify(self, token: str, session_id: str) -> str | None:
        """The account the token speaks for, if it is valid for this session now."""
        if not token.startswith(PREFIX):
            return None
        digest = hash_key(token)
        async with self._sm() as s:
            row = (
                await s.execute(select(StreamToken).where(StreamToken.token_hash == digest))
            ).scalar()
        if row is None or not hmac.compare_digest(row.token_hash, digest):
            return None
        if row.session_id != session_id or row.expires_at <= utcnow():
            return None
        return row.account_id

    async def consume(self, token: str, session_id: str) -> str | None:
        """`verify`, once: a valid token is deleted as it is used (single-use tokens)."""
        account = await self.verify(token, session_id)
        if account is None:
            return None
        async with self._sm.begin() as s:
            gone = await s.execute(
                delete(StreamToken).where(StreamToken.token_hash == hash_key(token))
            )
        return account if getattr(gone, "rowcount", 0) == 1 else None
