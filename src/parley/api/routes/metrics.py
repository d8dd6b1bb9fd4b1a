"""`GET /metrics`: the server's metrics in Prometheus's text format (`parley/metrics.py`).

`PARLEY_METRICS` says who may read them: `on` (the default) with `Authorization: Bearer`
and `PARLEY_METRICS_TOKEN` if set, else any API key of the server; `public` with no key
(a scrape from a private network); `off` not at all (404). The figures are the whole
server's, every account's together: on a server shared by several accounts, set
`PARLEY_METRICS_TOKEN` so that only the operator's scraper reads them.
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from parley.api.auth import bearer_token
from parley.api.context import ServerContext, get_context
from parley.api.errors import ApiError
from parley.metrics import CONTENT_TYPE

router = APIRouter(tags=["health"])
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request, ctx: ServerContext = Depends(get_context)) -> Response:
    mode = ctx.settings.metrics
    if mode == "off":
        raise ApiError(404, "Metrics are off (PARLEY_METRICS=off).", type="not_found_error")
    if mode != "public":
        await _check_scraper(request, ctx)
    return Response(ctx.runtime.metrics.render(), media_type=CONTENT_TYPE)


async def _check_scraper(request: Request, ctx: ServerContext) -> None:
    token = bearer_token(request)
    if token is None:
        raise ApiError(
            401,
            "Missing token: send 'Authorization: Bearer <PARLEY_METRICS_TOKEN or an API key>'.",
            headers=_CHALLENGE,
        )
    expected = ctx.settings.metrics_token
    if expected:
        if not hmac.compare_digest(token.encode(), expected.encode()):
            raise ApiError(401, "Invalid metrics token.", headers=_CHALLENGE)
        return
    if await ctx.store.keys.authenticate(token) is None:
        raise ApiError(401, "Invalid API key.", headers=_CHALLENGE)
