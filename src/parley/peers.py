"""Several server processes on one PostgreSQL, behind a load balancer: a session's
conversation is live in one process at a time, and a call that lands on another process
reaches it there.

    DELETE on B, session live on A     B ── end(S, deleted) ──▶ A  ends it: the turn being
                                                                heard is stored, the client
                                                                gets session_ended, close 4000
                                       B ◀── done ──────────── A
                                       B  marks it ended, answers the DELETE
    a stream for S opens on B,         B ── release(S) ───────▶ A  closes its stream (4409),
    S live on A                                                 cuts the reply in flight and
                                                                stores what was heard, lets go
                                       B ◀── done ──────────── A
                                       B  loads the turns and goes on with the conversation

Which process holds a session is its row's `live_on` (the holder's `server_id`, set when
a stream attaches, cleared when the conversation is let go). Messages go over PostgreSQL
`LISTEN`/`NOTIFY` on one channel, each addressed to one server; the asker waits for
`done` at most `wait_s` seconds. A server that died holding sessions is known by its
listening connection missing from `pg_stat_activity` (its `application_name` is
`parley:<server_id>`) and is not waited for. On SQLite (one process) there is nobody to
ask: `ask` returns at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger("parley.peers")

CHANNEL = "parley_peers"
OPS = ("end", "release")
# Handlers run on the holder: op, session id, reason (for "end").
Handler = Callable[[str, str, str], Awaitable[None]]


def new_server_id() -> str:
    return f"srv_{secrets.token_hex(8)}"


class Peers:
    """This process's line to the others (`Peers.open`); `NoPeers` on SQLite."""

    def __init__(self, engine: AsyncEngine, server_id: str) -> None:
        self.engine = engine
        self.server_id = server_id
        self._handler: Handler | None = None
        self._waiting: dict[str, asyncio.Future[bool]] = {}
        self._ids = itertools.count(1)
        self._conn: Any = None  # the asyncpg connection that listens
        self._keeper: asyncio.Task[None] | None = None
        self._handling: set[asyncio.Task[None]] = set()
        # The holder stores the turn in flight within its drain (10 s), then says done.
        self.wait_s = 15.0

    @staticmethod
    async def open(engine: AsyncEngine, server_id: str, handler: Handler) -> Peers:
        pg = engine.dialect.name == "postgresql"
        peers = Peers(engine, server_id) if pg else NoPeers(server_id)
        await peers.start(handler)
        return peers

    async def start(self, handler: Handler) -> None:
        self._handler = handler
        await self._listen()
        self._keeper = asyncio.create_task(self._keep_listening())

    async def close(self) -> None:
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
        for task in list(self._handling):
            task.cancel()
        if self._conn is not None and not self._conn.is_closed():
            with contextlib.suppress(Exception):
                await self._conn.close()

    async def ask(self, server_id: str, op: str, session_id: str, reason: str = "") -> bool:
        """Have `server_id` do `op` on its live session; True once it says done, False if
        it is gone or did not answer in time (the caller goes on either way)."""
        if server_id == self.server_id or not await self.alive(server_id):
            return False
        request = f"{self.server_id}:{next(self._ids)}"
        done = asyncio.get_running_loop().create_future()
        self._waiting[request] = done
        try:
            await self._notify(
                {
                    "to": server_id,
                    "from": self.server_id,
                    "op": op,
                    "session": session_id,
                    "reason": reason,
                    "req": request,
                }
            )
            return await asyncio.wait_for(done, self.wait_s)
        except TimeoutError:
            log.warning("server %s did not %s session %s in time", server_id, op, session_id)
            return False
        finally:
            self._waiting.pop(request, None)

    async def alive(self, server_id: str) -> bool:
        async with self.engine.connect() as conn:
            q = text("SELECT 1 FROM pg_stat_activity WHERE application_name = :name LIMIT 1")
            row = (await conn.execute(q, {"name": f"parley:{server_id}"})).first()
        return row is not None

    # --- the listening side ---

    async def _listen(self) -> None:
        import asyncpg

        url = self.engine.url.set(drivername="postgresql")
        self._conn = await asyncpg.connect(
            url.render_as_string(hide_password=False),
            server_settings={"application_name": f"parley:{self.server_id}"},
        )
        await self._conn.add_listener(CHANNEL, self._on_notify)

    async def _keep_listening(self) -> None:
        """Listen again after the database went away (checked every 2 s)."""
        while True:
            await asyncio.sleep(2.0)
            if self._conn is None or self._conn.is_closed():
                try:
                    await self._listen()
                    log.info("listening for other servers again")
                except Exception as exc:  # noqa: BLE001 - the database is still away
                    log.debug("cannot listen yet: %s", exc)

    async def _notify(self, message: dict[str, Any]) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                text("SELECT pg_notify(:channel, :payload)"),
                {"channel": CHANNEL, "payload": json.dumps(message)},
            )

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            message = json.loads(payload)
            if not isinstance(message, dict) or message.get("to") != self.server_id:
                return
            op, request = message.get("op"), str(message.get("req", ""))
        except ValueError:
            return
        if op == "done":
            waiting = self._waiting.get(request)
            if waiting is not None and not waiting.done():
                waiting.set_result(True)
            return
        if op in OPS and isinstance(message.get("session"), str):
            task = asyncio.create_task(self._handle(message))
            self._handling.add(task)
            task.add_done_callback(self._handling.discard)

    async def _handle(self, message: dict[str, Any]) -> None:
        assert self._handler is not None
        try:
            await self._handler(message["op"], message["session"], str(message.get("reason", "")))
        except Exception:  # a failure here must not stop the listening
            log.exception("handling %s of session %s", message["op"], message["session"])
        with contextlib.suppress(Exception):
            await self._notify({"to": message.get("from"), "op": "done", "req": message["req"]})


class NoPeers(Peers):
    """One process on SQLite: there is nobody else to ask."""

    def __init__(self, server_id: str | None = None) -> None:
        super().__init__(None, server_id or new_server_id())  # type: ignore[arg-type]

    async def start(self, handler: Handler) -> None:
        self._handler = handler

    async def ask(self, server_id: str, op: str, session_id: str, reason: str = "") -> bool:
        return False
