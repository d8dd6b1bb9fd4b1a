"""A conversation's stored turns, and the one place its turn ids come from.

A turn's id is reserved the moment the conversation knows the turn will be stored (an
interrupted reply's id goes out in the `interrupted` event at once, before the reply's
task has even stopped); the store is handed that sequence number and honours it. Turns
are written in the order their ids were reserved, each after the one before it, so
history keeps the order things happened in (a cut reply before the user turn that cut
it) however long each write takes. A turn is announced (its final transcript and
`turn_end`) only once stored (DESIGN principle 9).

    reserve turn_004 ─▶ wait for turn_003's write ─▶ build fields ─▶ store ─▶ announce

A write that fails is reported (`storage_error`) and its id stays unused: ids are
unique and in order, and a gap shows a turn that was lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from parley.engine import events as ev
from parley.ids import turn_id
from parley.store.conversations import ConversationStore
from parley.store.records import TurnRecord

log = logging.getLogger("parley.engine")


@dataclass(frozen=True)
class NewTurn:
    role: str
    text: str
    timestamp: datetime
    duration_ms: int
    latency_ms: int | None = None
    interrupted: bool = False
    meta: dict[str, Any] | None = field(default=None)


class TurnLedger:
    def __init__(
        self,
        store: ConversationStore,
        conversation_id: str,
        turns: list[TurnRecord],
        emit: Callable[[ev.Event], Awaitable[None]],
    ) -> None:
        self._store = store
        self._conversation_id = conversation_id
        self.turns: list[TurnRecord] = list(turns)
        self._next_seq = (turns[-1].seq if turns else 0) + 1
        self._last: asyncio.Task[TurnRecord | None] | None = None
        self._writes: set[asyncio.Task[TurnRecord | None]] = set()
        self._emit = emit

    @property
    def next_id(self) -> str:
        """The id the next reserved turn gets."""
        return turn_id(self._next_seq)

    def __len__(self) -> int:
        return len(self.turns)

    @property
    def reserved(self) -> int:
        """Turns stored or on their way to the store."""
        return self._next_seq - 1

    def append(
        self, turn: NewTurn | Callable[[str], Awaitable[NewTurn]]
    ) -> tuple[str, asyncio.Task[TurnRecord | None]]:
        """Reserve the next id now; store the turn (built by `turn(id)` if it is a
        function) after the turns reserved before it, then announce it (its final
        transcript and `turn_end`). Returns the id and the write, which runs on even if
        its caller is cancelled."""
        seq = self._next_seq
        self._next_seq += 1
        before = self._last
        task = asyncio.ensure_future(self._write(seq, before, turn))
        task.set_name(f"{self._conversation_id}:store_turn_{seq}")
        self._last = task
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)
        return turn_id(seq), task

    async def _write(
        self,
        seq: int,
        before: asyncio.Task[TurnRecord | None] | None,
        turn: NewTurn | Callable[[str], Awaitable[NewTurn]],
    ) -> TurnRecord | None:
        if before is not None:
            await asyncio.wait({before})
        try:
            fields = turn if isinstance(turn, NewTurn) else await turn(turn_id(seq))
            record = await self._store.append_turn(
                self._conversation_id,
                seq=seq,
                role=fields.role,
                text=fields.text,
                timestamp=fields.timestamp,
                duration_ms=fields.duration_ms,
                latency_ms=fields.latency_ms,
                interrupted=fields.interrupted,
                meta=fields.meta,
            )
        except Exception:
            log.exception("session=%s failed to store turn %d", self._conversation_id, seq)
            await self._emit(ev.ErrorEvent("storage_error", "The turn could not be stored."))
            return None
        self.turns.append(record)
        await self._emit(ev.TranscriptEvent(record.role, record.text, True, record.turn_id))
        end = ev.TurnEnd(record.role, record.turn_id, record.duration_ms, record.interrupted)
        await self._emit(end)
        return record

    async def drain(self) -> None:
        """Return once every reserved turn is written (or failed)."""
        while self._writes:
            await asyncio.wait(set(self._writes))
