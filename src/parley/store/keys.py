"""API keys: stored as SHA-256 hashes, looked up by hash, compared in constant time.

Keys are 238-bit random strings, so a fast hash is enough (no password stretching
needed); the database never holds a key in clear.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from parley import ids
from parley.store.tables import Account, ApiKey
from parley.timeutil import utcnow

DEFAULT_ACCOUNT = "acct_default"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class KeyStore:
    def __init__(self, sm: async_sessionmaker[Any]) -> None:
        self._sm = sm

    async def authenticate(self, key: str) -> str | None:
        """The account a key belongs to, or None."""
        if not key:
            return None
        digest = hash_key(key)
        async with self._sm() as s:
            row = (await s.execute(select(ApiKey).where(ApiKey.key_hash == digest))).scalar()
        if row is None or not hmac.compare_digest(row.key_hash, digest):
            return None
        return row.account_id

    async def create_account(self, name: str = "", account_id: str | None = None) -> str:
        async with self._sm.begin() as s:
            acct = Account(id=account_id or ids.new_id(ids.ACCOUNT), name=name, created_at=utcnow())
            s.add(acct)
        return acct.id

    async def add_key(self, account_id: str, key: str, name: str = "") -> None:
        async with self._sm.begin() as s:
            s.add(
                ApiKey(
                    account_id=account_id,
                    name=name,
                    key_hash=hash_key(key),
                    prefix=key[:8],
                    created_at=utcnow(),
                )
            )

    async def create_account_with_key(self, name: str = "") -> tuple[str, str]:
        """A new account and a fresh key for it: (account_id, key)."""
        account_id = await self.create_account(name)
        key = ids.new_api_key()
        await self.add_key(account_id, key, name)
        return account_id, key

    async def ensure_bootstrap_key(self, key: str) -> str:
        """Make `key` (from PARLEY_API_KEY) a key of the default account; idempotent."""
        existing = await self.authenticate(key)
        if existing is not None:
            return existing
        async with self._sm.begin() as s:
            if await s.get(Account, DEFAULT_ACCOUNT) is None:
                s.add(Account(id=DEFAULT_ACCOUNT, name="default", created_at=utcnow()))
        await self.add_key(DEFAULT_ACCOUNT, key, "PARLEY_API_KEY")
        return DEFAULT_ACCOUNT

    async def count(self) -> int:
        async with self._sm() as s:
            return len((await s.execute(select(ApiKey.id))).all())
