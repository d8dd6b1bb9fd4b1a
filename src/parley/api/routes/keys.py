"""`/v1/keys`: the account's API keys — list, create (the secret shown once), revoke."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends

from parley.api.auth import require_account
from parley.api.context import ServerContext, get_context
from parley.api.errors import not_found
from parley.api.schemas import ERROR_RESPONSES, KeyCreate, KeyCreated, KeyList, KeyRevoked
from parley.store.keys import KeyInfo
from parley.timeutil import iso

router = APIRouter(prefix="/v1/keys", tags=["keys"])


def key_out(info: KeyInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "name": info.name,
        "prefix": info.prefix,
        "created_at": iso(info.created_at) or "",
        "bootstrap": info.bootstrap,
    }


@router.get("", response_model=KeyList, responses=ERROR_RESPONSES)
async def list_keys(
    account: str = Depends(require_account), ctx: ServerContext = Depends(get_context)
) -> dict[str, Any]:
    """The account's keys that still work (never their secrets)."""
    return {"data": [key_out(k) for k in await ctx.store.keys.list(account)]}


@router.post("", response_model=KeyCreated, responses=ERROR_RESPONSES)
async def create_key(
    body: KeyCreate | None = Body(None),
    account: str = Depends(require_account),
    ctx: ServerContext = Depends(get_context),
) -> dict[str, Any]:
    """A new key for this account; `key` is shown this once."""
    info, secret = await ctx.store.keys.create_key(account, (body or KeyCreate()).name)
    return {**key_out(info), "key": secret}


@router.delete("/{key_id}", response_model=KeyRevoked, responses=ERROR_RESPONSES)
async def revoke_key(
    key_id: str,
    account: str = Depends(require_account),
    ctx: ServerContext = Depends(get_context),
) -> dict[str, Any]:
    """Revoke one of the account's keys: it stops working at once."""
    info = await ctx.store.keys.revoke(key_id, account)
    if info is None:
        raise not_found("key", key_id, "key_id")
    return {"id": info.id, "status": "revoked"}
