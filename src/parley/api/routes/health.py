"""`GET /healthz`: liveness and a database round trip (no auth)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from sqlalchemy import text

from parley import __version__
from parley.api.context import ServerContext, get_context

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz(ctx: ServerContext = Depends(get_context)) -> Any:
    try:
        async with ctx.store.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        database = "ok"
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        database = f"error: {type(exc).__name__}"
    body = {
        "status": "ok" if database == "ok" else "degraded",
        "version": __version__,
        "database": database,
        "live_streams": len(ctx.live),
    }
    return JSONResponse(body, status_code=200 if database == "ok" else 503)
