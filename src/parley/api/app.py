"""The ASGI application: `create_app(settings)`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI

from parley import __version__
from parley.api.context import ServerContext
from parley.api.errors import install_error_handlers
from parley.api.limits import BodySizeLimit
from parley.api.routes import agents, conversations, health, telephony, voices
from parley.config import Settings, get_settings
from parley.engine.build import build_runtime
from parley.engine.sessions import SessionManager
from parley.playground import router as playground
from parley.store import Store
from parley.store.purge import purge_forever
from parley.transports import native

log = logging.getLogger("parley")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = await Store.open(settings.resolved_database_url())
        if settings.api_key:
            await store.keys.ensure_bootstrap_key(settings.api_key)
        runtime = build_runtime(settings)
        start_stt = getattr(runtime.stt, "start", None)
        if start_stt is not None:  # worker processes up before the first caller
            await start_stt()
        sessions = SessionManager(runtime, store.conversations, settings.session_linger_s)
        ctx = ServerContext(settings=settings, store=store, runtime=runtime, sessions=sessions)
        app.state.ctx = ctx
        purge = asyncio.create_task(
            purge_forever(store, settings.history_retention_days, settings.purge_interval_s)
        )
        try:
            yield
        finally:
            purge.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await purge
            await ctx.sessions.close()
            await runtime.close()
            await store.close()

    app = FastAPI(
        title="Parley",
        version=__version__,
        description="Self-hosted server for real-time voice conversations with AI.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    for module in (conversations, agents, voices, health, native, playground):
        app.include_router(module.router)
    telephony.install(app, settings)  # Twilio webhook and Media Streams socket
    return app
