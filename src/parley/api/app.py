"""The ASGI application: `create_app(settings)`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI

from parley import __version__
from parley.api import logredact
from parley.api.context import ServerContext
from parley.api.docs import install_docs
from parley.api.errors import install_error_handlers
from parley.api.limits import BodySizeLimit, GlobalRateLimit
from parley.api.proxy import ForwardedHeaders
from parley.api.routes import (
    agents,
    conversations,
    diagnostics,
    health,
    keys,
    telephony,
    voices,
    webhooks,
)
from parley.api.routes import metrics as metrics_route
from parley.config import Settings, get_settings
from parley.engine.build import build_runtime
from parley.engine.sessions import SessionManager
from parley.peers import Peers, new_server_id
from parley.playground import router as playground
from parley.store import Store
from parley.store.purge import Abandoned, purge_forever
from parley.transports import deepgram, native, openai_realtime
from parley.transports.native import close_for
from parley.webhooks.service import start_webhooks

log = logging.getLogger("parley")


async def for_peer(ctx: ServerContext, op: str, session_id: str, reason: str) -> None:
    """What another server process asks of a session live here (`parley.peers`)."""
    if op == "end":  # DELETE, or the agent paused/updated/deleted, on another process
        await ctx.sessions.end_here(session_id, reason)
        await ctx.live.close(session_id, *close_for(reason))
    elif op == "release":  # a stream for the session opened on another process
        await ctx.live.close(session_id, 4409, "replaced by a newer connection")
        await ctx.sessions.release(session_id)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        logredact.install()  # after uvicorn set its loggers up
        store = await Store.open(settings.resolved_database_url())
        if settings.api_key:
            await store.keys.ensure_bootstrap_key(settings.api_key)
        retired = await store.keys.revoke_stale_bootstrap(settings.api_key)
        if retired:
            log.warning("revoked %d bootstrap key(s) no longer in PARLEY_API_KEY", retired)
        runtime = build_runtime(settings)
        start_stt = getattr(runtime.stt, "start", None)
        if start_stt is not None:  # worker processes up before the first caller
            await start_stt()
        peers = await Peers.open(store.engine, new_server_id(), lambda *a: for_peer(ctx, *a))
        sessions = SessionManager(
            runtime, store.conversations, settings.session_linger_s, peers=peers
        )
        ctx = ServerContext(settings=settings, store=store, runtime=runtime, sessions=sessions)
        app.state.ctx = ctx
        worker = getattr(runtime.llm, "worker", None)  # the embedded LLM's, if it is one
        runtime.metrics.track(
            live=lambda: len(sessions),
            streams=lambda: len(ctx.live),
            llm_queue=(lambda: worker.depth) if worker is not None else None,
        )
        loop_watch = asyncio.create_task(runtime.metrics.watch_loop())
        deliveries = await start_webhooks(store, settings)
        purge = asyncio.create_task(
            purge_forever(
                store,
                settings.history_retention_days,
                settings.purge_interval_s,
                Abandoned(settings.session_max_duration_s, settings.session_unstarted_s),
            )
        )
        try:
            yield
        finally:
            loop_watch.cancel()
            purge.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await purge
            await ctx.sessions.close()
            await peers.close()
            await deliveries.close()
            await runtime.close()
            await store.close()

    app = FastAPI(
        title="Parley",
        version=__version__,
        description="Self-hosted server for real-time voice conversations with AI.",
        lifespan=lifespan,
        docs_url=None,  # /docs is served from local files (api/docs.py)
        redoc_url=None,
    )
    install_docs(app)
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(ForwardedHeaders, trusted=settings.forwarded_allow_ips)
    app.add_middleware(
        GlobalRateLimit,
        rate_per_s=settings.global_rate_limit_per_s,
        burst=max(1, int(settings.global_rate_limit_per_s * 2)),
    )
    for module in (
        conversations,
        agents,
        webhooks,
        keys,
        voices,
        health,
        metrics_route,
        diagnostics,
        native,
        playground,
    ):
        app.include_router(module.router)
    app.include_router(deepgram.router)  # Deepgram Voice Agent API
    app.include_router(openai_realtime.router)  # OpenAI Realtime API
    telephony.install(app, settings)  # Twilio webhook and Media Streams socket
    return app
