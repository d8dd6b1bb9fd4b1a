"""A real Parley server on loopback for tests: uvicorn in a background thread."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import uvicorn

from parley.api.app import create_app
from parley.config import Settings
from parley.store import Store

T = TypeVar("T")
POSTGRES_URL = os.environ.get("PARLEY_TEST_POSTGRES_URL")
BOOTSTRAP_KEY = "prl_test_bootstrap_key_0123456789"


def run_async(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion on a fresh loop in another thread (works from async tests)."""
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(factory()))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            error.append(exc)

    t = threading.Thread(target=target)
    t.start()
    t.join()
    if error:
        raise error[0]
    return result[0]


def fresh_database_url(backend: str, tmp: Path) -> str:
    """A new, empty database of the given backend ("sqlite" or "postgres")."""
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp / f'parley-{secrets.token_hex(4)}.db'}"
    assert POSTGRES_URL, "PARLEY_TEST_POSTGRES_URL is not set"
    import asyncpg

    name = f"parley_test_{secrets.token_hex(6)}"
    admin = POSTGRES_URL.replace("postgresql+asyncpg://", "postgresql://")

    async def create() -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    run_async(create)
    base = admin.rsplit("/", 1)[0]
    return f"postgresql+asyncpg://{base.split('://', 1)[1]}/{name}"


class ServerThread:
    """`with ServerThread(settings) as srv:` → `srv.url`, `srv.ws_url`, `srv.new_key()`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app = create_app(settings)
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.port = 0

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("test server failed to start")
            time.sleep(0.02)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def new_key(self, name: str = "test") -> str:
        """An API key of a brand-new account (tests stay apart by account)."""

        async def create() -> str:
            store = await Store.open(self.settings.resolved_database_url())
            try:
                return (await store.keys.create_account_with_key(name))[1]
            finally:
                await store.close()

        return run_async(create)


def server_settings(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    # Tests talk to the OpenAI-compatible double, or to no LLM at all; the embedded model
    # is asked for explicitly (llm="embedded"), never picked up by default.
    overrides.setdefault("llm", "openai")
    # The stream and API tests were written (and their timings tuned) against pocketsphinx,
    # which starts in a second and costs little CPU: they say so here rather than take the
    # default (faster-whisper), which tests/stt/test_whisper_server.py covers over a socket.
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        api_key=BOOTSTRAP_KEY,
        **{"stt": "pocketsphinx", **overrides},
    )


@contextlib.contextmanager
def llm_backed_server(llm_base_url: str, tmp: Path, **overrides: Any) -> Iterator[ServerThread]:
    """A live server on a fresh SQLite file whose LLM is the double at `llm_base_url`
    (`overrides`: more settings)."""
    settings = server_settings(
        fresh_database_url("sqlite", tmp),
        tmp,
        llm_base_url=llm_base_url,
        llm_model="test-model",
        **{"webhook_allow": "127.0.0.1", **overrides},  # the webhook doubles: on loopback
    )
    with ServerThread(settings) as srv:
        yield srv
