"""The live conversations of this process, by session id.

A conversation outlives its connection: when the client drops, a reply in progress is
finished and stored, and a reconnect within `linger_s` attaches to the same object.
After that (and once no reply is running) it is closed and forgotten. A session is live
in one server process at a time: opening one that another process holds has that one
let it go first, and ending one held elsewhere asks its holder (`parley.peers`). While sessions
come and go, the heap is trimmed every 30 s (`heap.py`: freed buffers go back to the
system instead of staying in glibc's arenas).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from parley import heap
from parley.engine.conversation import Conversation
from parley.engine.runtime import Runtime
from parley.engine.sink import Sink
from parley.engine.state import State
from parley.peers import NoPeers, Peers
from parley.providers.stt.base import Transcript
from parley.store.conversations import ConversationStore
from parley.store.records import ConversationRecord

log = logging.getLogger("parley.sessions")


class SessionManager:
    def __init__(
        self,
        runtime: Runtime,
        store: ConversationStore,
        linger_s: float = 30.0,
        peers: Peers | None = None,
    ) -> None:
        self.runtime = runtime
        self._store = store
        self.peers: Peers = peers or NoPeers()
        self._live: dict[str, Conversation] = {}
        self._reapers: dict[str, asyncio.Task[None]] = {}
        self._opening: dict[str, tuple[asyncio.Lock, int]] = {}
        self.linger_s = linger_s
        self.drain_s = 10.0  # at shutdown, storing a session's turn in flight takes at most
        self.heap = heap.HeapKeeper()
        self._heap_task: asyncio.Task[None] | None = None

    def get(self, session_id: str) -> Conversation | None:
        conv = self._live.get(session_id)
        return None if conv is None or conv.state is State.ENDED else conv

    async def attach(
        self, record: ConversationRecord, sink: Sink, vad_threshold: float
    ) -> tuple[Conversation, bool]:
        """The session's conversation with `sink` attached; True if it was created now."""
        # One attach at a time per session; the lock is dropped once nobody waits on it
        # (one per session ever seen would grow with the server's lifetime).
        lock, users = self._opening.get(record.id, (asyncio.Lock(), 0))
        self._opening[record.id] = (lock, users + 1)
        try:
            async with lock:
                conv, created = await self._open(record, vad_threshold)
        finally:
            lock, users = self._opening[record.id]
            if users == 1:
                del self._opening[record.id]
            else:
                self._opening[record.id] = (lock, users - 1)
        conv.attach(sink, vad_threshold)
        if self._heap_task is None:
            self._heap_task = asyncio.create_task(self.heap.run())
        return conv, created

    async def _open(
        self, record: ConversationRecord, vad_threshold: float
    ) -> tuple[Conversation, bool]:
        """The live conversation, or a new one (its STT stream and stored turns)."""
        reaper = self._reapers.pop(record.id, None)
        if reaper is not None:
            reaper.cancel()
        conv = self.get(record.id)
        created = conv is None
        if conv is None:
            created_conv: list[Conversation] = []

            def on_partial(transcript: Transcript) -> None:
                if created_conv:
                    created_conv[0].on_partial(transcript.text)

            holder = await self._store.claim(record.id, self.peers.server_id)
            if holder is not None:  # live in another process: it stores its turn, lets go
                await self.peers.ask(holder, "release", record.id)
            stt = await self.runtime.stt.open(record.language, on_partial)
            turns = await self._store.turns(record.id)
            conv = Conversation(record, self.runtime, self._store, stt, turns, vad_threshold)
            created_conv.append(conv)
            self._live[record.id] = conv
        await self._store.mark_active(record.id)
        return conv, created

    def detach(self, conv: Conversation, sink: Sink) -> None:
        conv.detach(sink)
        if self._live.get(conv.id) is conv and conv.id not in self._reapers:
            self._reapers[conv.id] = asyncio.create_task(self._reap(conv))

    async def _reap(self, conv: Conversation) -> None:
        try:
            await self.runtime.clock.sleep(self.linger_s)
            await conv.idle()  # let the reply in flight finish and be stored
            await conv.close()
            if self._live.get(conv.id) is conv:
                del self._live[conv.id]
                await self._let_go(conv.id)
            log.info("session=%s released after disconnect", conv.id)
        except asyncio.CancelledError:
            pass
        finally:
            # a reconnect cancels this reaper, and a later drop may have registered
            # another one for the session since: forget only this one
            if self._reapers.get(conv.id) is asyncio.current_task():
                del self._reapers[conv.id]

    async def end(self, session_id: str, reason: str) -> None:
        """End a live conversation now (DELETE, agent deleted, expiry), here or in the
        process that holds it."""
        if session_id in self._live:
            await self.end_here(session_id, reason)
            return
        holder = await self._store.holder(session_id)
        if holder is not None and holder != self.peers.server_id:
            await self.peers.ask(holder, "end", session_id, reason)

    async def end_here(self, session_id: str, reason: str) -> None:
        conv = self._live.pop(session_id, None)
        if conv is not None:
            await conv.end(reason)
            await self._let_go(session_id)

    async def release(self, session_id: str) -> None:
        """Let go of a live conversation another process is taking over: its reply in
        flight is cut and stored with what was heard, as at shutdown."""
        reaper = self._reapers.pop(session_id, None)
        if reaper is not None:
            reaper.cancel()
        conv = self._live.pop(session_id, None)
        if conv is not None:
            await self._suspend(conv, "taken over by another server")
            await self._let_go(session_id)

    async def close(self) -> None:
        if self._heap_task is not None:
            self._heap_task.cancel()
        for task in self._reapers.values():
            task.cancel()

        # Shutting down (SIGTERM; uvicorn has closed the sockets with 1012): each reply in
        # flight is cut where it is and stored with what was heard, a spoken turn being
        # answered is stored, and the sessions stay live for the next server.
        async def suspend(conv: Conversation) -> None:
            await self._suspend(conv, "server shutting down")
            await self._let_go(conv.id)

        await asyncio.gather(*(suspend(conv) for conv in self._live.values()))
        self._live.clear()

    async def _let_go(self, session_id: str) -> None:
        """The store no longer says this process holds the session (a database that is
        away leaves it said: whoever opens the session next finds this process gone, or
        asks it and finds nothing to let go)."""
        try:
            await self._store.let_go(session_id, self.peers.server_id)
        except Exception as exc:  # noqa: BLE001
            log.warning("session=%s: could not record it let go: %s", session_id, exc)

    async def _suspend(self, conv: Conversation, why: str) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(conv.suspend(why), self.drain_s)
        with contextlib.suppress(Exception):
            await conv.close()

    def __len__(self) -> int:
        return len(self._live)
