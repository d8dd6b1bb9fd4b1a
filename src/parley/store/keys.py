"""API keys: stored as SHA-256 hashes, looked up by hash, compared in constant time.

Keys are 238-bit random strings, so a fast hash is enough (no password stretching
needed); the database never holds a key in clear. A key can be listed (its id, name
and first characters) and revoked; a revoked key authenticates nothing. The key from
`PARLEY_API_KEY` is marked `bootstrap`: at start-up every bootstrap key but the one
configured now is revoked, so changing the variable retires the old key.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parley import ids
from parley.store.tables import Account, ApiKey
from parley.timeutil import utcnow

DEFAULT_ACCOUNT = "acct_default"
KEY_ID_PREFIX = "key_"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class KeyInfo:
    id: str
    account_id: str
    name: str
    prefix: str
    created_at: datetime
    bootstrap: bool

    @classmethod
    def of(cls, row: ApiKey) -> KeyInfo:
        return cls(
            id=f"{KEY_ID_PREFIX}{row.id}",
            account_id=row.account_id,
            name=row.name,
            prefix=row.prefix,
            created_at=row.created_at,
            bootstrap=bool(row.bootstrap),
        )


def _row_id(key_id: str) -> int | None:
    digits = key_id[len(KEY_ID_PREFIX) :] if key_id.startswith(KEY_ID_PREFIX) else ""
    if not digits.isdigit() or len(digits) > 18:
        return None
    return int(digits)


async def _insert_ignore(s: AsyncSession, table: Any, values: dict[str, Any]) -> None:
    """INSERT … ON CONFLICT DO NOTHING: two processes starting at once both succeed."""
    dialect = s.bind.dialect.name if s.bind is not None else "sqlite"
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    await s.execute(insert(table).values(**values).on_conflict_do_nothing())


class KeyStore:
    def __init__(self, sm: async_sessionmaker[Any]) -> None:
        self._sm = sm

    async def authenticate(self, key: str) -> str | None:
        """The account a (not revoked) key belongs to, or None."""
        if not key or len(key) > 512:
            return None
        digest = hash_key(key)
        async with self._sm() as s:
            row = (await s.execute(select(ApiKey).where(ApiKey.key_hash == digest))).scalar()
        if row is None or not hmac.compare_digest(row.key_hash, digest):
            return None
        if row.revoked_at is not None:
            return None
        return row.account_id

    async def create_account(self, name: str = "", account_id: str | None = None) -> str:
        async with self._sm.begin() as s:
            acct = Account(id=account_id or ids.new_id(ids.ACCOUNT), name=name, created_at=utcnow())
            s.add(acct)
        return acct.id

    async def add_key(self, account_id: str, key: str, name: str = "") -> KeyInfo:
        row = ApiKey(
            account_id=account_id,
            name=name,
            key_hash=hash_key(key),
            prefix=key[:8],
            created_at=utcnow(),
            bootstrap=False,
        )
        async with self._sm.begin() as s:
            s.add(row)
        return KeyInfo.of(row)

    async def create_key(self, account_id: str, name: str = "") -> tuple[KeyInfo, str]:
        """A fresh key for an existing account: (its info, the key, shown once)."""
        key = ids.new_api_key()
        return await self.add_key(account_id, key, name), key

    async def create_account_with_key(self, name: str = "") -> tuple[str, str]:
        """A new account and a fresh key for it: (account_id, key)."""
        account_id = await self.create_account(name)
        key = ids.new_api_key()
        await self.add_key(account_id, key, name)
        return account_id, key

    async def list(self, account_id: str | None = None) -> list[KeyInfo]:
        """The keys not revoked, of one account or of all, oldest first."""
        q = select(ApiKey).where(ApiKey.revoked_at.is_(None)).order_by(ApiKey.id)
        if account_id is not None:
            q = q.where(ApiKey.account_id == account_id)
        async with self._sm() as s:
            return [KeyInfo.of(r) for r in (await s.execute(q)).scalars().all()]

    async def revoke(self, key_id: str, account_id: str | None = None) -> KeyInfo | None:
        """Revoke a key (of `account_id`, when given); None if there is no such live key."""
        row_id = _row_id(key_id)
        if row_id is None:
            return None
        async with self._sm.begin() as s:
            row = await s.get(ApiKey, row_id)
            if row is None or row.revoked_at is not None:
                return None
            if account_id is not None and row.account_id != account_id:
                return None
            row.revoked_at = utcnow()
        return KeyInfo.of(row)

    async def ensure_bootstrap_key(self, key: str) -> str:
        """Make `key` (from PARLEY_API_KEY) a key of the default account; idempotent and
        safe when several processes start at once (inserts that may collide are upserts)."""
        digest = hash_key(key)
        async with self._sm.begin() as s:
            await _insert_ignore(
                s, Account, {"id": DEFAULT_ACCOUNT, "name": "default", "created_at": utcnow()}
            )
            await _insert_ignore(
                s,
                ApiKey,
                {
                    "account_id": DEFAULT_ACCOUNT,
                    "name": "PARLEY_API_KEY",
                    "key_hash": digest,
                    "prefix": key[:8],
                    "created_at": utcnow(),
                    "bootstrap": True,
                },
            )
            # Configured again after being retired: it is the bootstrap key once more.
            await s.execute(
                update(ApiKey)
                .where(ApiKey.key_hash == digest, ApiKey.bootstrap.is_(True))
                .values(revoked_at=None)
            )
            row = (await s.execute(select(ApiKey).where(ApiKey.key_hash == digest))).scalar_one()
        return row.account_id

    async def revoke_stale_bootstrap(self, current: str | None) -> int:
        """Revoke every bootstrap key but `current` (PARLEY_API_KEY now); how many."""
        q = update(ApiKey).where(ApiKey.bootstrap.is_(True), ApiKey.revoked_at.is_(None))
        if current:
            q = q.where(ApiKey.key_hash != hash_key(current))
        async with self._sm.begin() as s:
            result = await s.execute(q.values(revoked_at=utcnow()))
        return int(getattr(result, "rowcount", 0) or 0)

    async def count(self) -> int:
        """Keys that still authenticate."""
        async with self._sm() as s:
            q = select(func.count()).select_from(ApiKey).where(ApiKey.revoked_at.is_(None))
            return int((await s.execute(q)).scalar_one())
