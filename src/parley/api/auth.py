"""Bearer API-key authentication; every resource is scoped to the key's account."""

from __future__ import annotations

from fastapi import Depends
from starlette.requests import HTTPConnection

from parley.api.context import ServerContext, get_context
from parley.api.errors import ApiError
from parley.api.limits import too_many

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def bearer_token(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def require_account(conn: HTTPConnection, ctx: ServerContext = Depends(get_context)) -> str:
    """The account id of the request's API key, or a 401."""
    token = bearer_token(conn)
    if token is None:
        raise ApiError(
            401, "Missing API key: send 'Authorization: Bearer <key>'.", headers=_CHALLENGE
        )
    account = await ctx.store.keys.authenticate(token)
    if account is None:
        raise ApiError(401, "Invalid API key.", headers=_CHALLENGE)
    wait = ctx.rate.take(account)
    if wait > 0:
        raise too_many(wait, "for this account")
    return account
