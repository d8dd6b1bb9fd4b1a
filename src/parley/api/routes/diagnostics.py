"""`GET /v1/diagnostics`: what this running server uses, as `parley doctor` would say it
in the server's own environment (`parley doctor --url` shows it). API key required.

It names providers, models and where they are, never a secret: API keys are not part of
any check, and credentials and query strings are cut from every URL in the answer.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends

from parley import __version__
from parley.api.auth import require_account
from parley.api.context import ServerContext, get_context
from parley.doctor import redact, run_checks

router = APIRouter(prefix="/v1/diagnostics", tags=["diagnostics"])


@router.get("")
async def diagnostics(
    _account: str = Depends(require_account),
    ctx: ServerContext = Depends(get_context),
) -> dict[str, Any]:
    checks = await asyncio.to_thread(run_checks, ctx.settings)
    return {
        "version": __version__,
        "ok": all(c.status != "missing" for c in checks),
        "running": {
            "stt": ctx.runtime.stt.name,
            "tts": sorted(ctx.runtime.tts),
            "voices": len(ctx.voices),
            "live_streams": len(ctx.live),
        },
        "checks": [
            {"name": c.name, "status": c.status, "detail": redact(c.detail), "fix": redact(c.fix)}
            for c in checks
        ],
    }
