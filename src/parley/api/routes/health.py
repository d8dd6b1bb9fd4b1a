"""`GET /healthz`: liveness and a database round trip. Without a key it says only
`status` (what a load balancer needs); with a valid API key, the details too."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from parley import __version__
from parley.api.auth import bearer_token
from parley.api.context import ServerContext, get_context

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz(request: Request, ctx: ServerContext = Depends(get_context)) -> Any:
    try:
        async with ctx.store.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        database = "ok"
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        database = f"error: {type(exc).__name__}"
    status = 200 if database == "ok" else 503
    body: dict[str, Any] = {"status": "ok" if database == "ok" else "degraded"}
    token = bearer_token(request)
    if token is not None and database == "ok" and await ctx.store.keys.authenticate(token):
        body |= {"version": __version__, "database": database, "live_streams": len(ctx.live)}
    return JSONResponse(body, status_code=status)
