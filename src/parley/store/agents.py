"""Reusable agents."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from parley import ids
from parley.store.records import AgentRecord, ToolDef
from parley.store.tables import Agent
from parley.timeutil import utcnow

_EDITABLE = (
    "name",
    "voice_id",
    "system_prompt",
    "language",
    "tools",
    "max_turns",
    "status",
    "settings",
)


def _record(row: Agent) -> AgentRecord:
    return AgentRecord(
        id=row.id,
        account_id=row.account_id,
        name=row.name,
        voice_id=row.voice_id,
        system_prompt=row.system_prompt,
        language=row.language,
        tools=tuple(ToolDef.from_json(t) for t in row.tools or []),
        max_turns=row.max_turns,
        status=row.status,
        created_at=row.created_at,
        settings=dict(row.settings or {}),
    )


class AgentStore:
    def __init__(self, sm: async_sessionmaker[Any]) -> None:
        self._sm = sm

    async def create(
        self,
        *,
        account_id: str,
        name: str,
        voice_id: str,
        system_prompt: str,
        language: str,
        tools: list[ToolDef],
        max_turns: int | None,
        settings: dict[str, Any] | None = None,
    ) -> AgentRecord:
        row = Agent(
            id=ids.new_id(ids.AGENT),
            account_id=account_id,
            name=name,
            voice_id=voice_id,
            system_prompt=system_prompt,
            language=language,
            tools=[t.to_json() for t in tools],
            max_turns=max_turns,
            status="active",
            created_at=utcnow(),
            settings=settings,
        )
        async with self._sm.begin() as s:
            s.add(row)
        return _record(row)

    async def get(self, agent_id: str, account_id: str) -> AgentRecord | None:
        """A live (not deleted) agent of the account, or None."""
        async with self._sm() as s:
            row = await s.get(Agent, agent_id)
            if row is None or row.account_id != account_id or row.status == "deleted":
                return None
            return _record(row)

    async def get_any(self, agent_id: str) -> AgentRecord | None:
        """A live agent of any account (server configuration names it: telephony routes)."""
        async with self._sm() as s:
            row = await s.get(Agent, agent_id)
            return None if row is None or row.status == "deleted" else _record(row)

    async def list(self, account_id: str, limit: int, offset: int) -> tuple[list[AgentRecord], int]:
        """A page of the account's agents, newest first, and the total count."""
        live = (Agent.account_id == account_id, Agent.status != "deleted")
        async with self._sm() as s:
            total = int(
                (await s.execute(select(func.count()).select_from(Agent).where(*live))).scalar_one()
            )
            q = (
                select(Agent)
                .where(*live)
                .order_by(Agent.created_at.desc(), Agent.id.desc())
                .limit(limit)
                .offset(offset)
            )
            rows = (await s.execute(q)).scalars().all()
        return [_record(r) for r in rows], total

    async def delete(self, agent_id: str, account_id: str) -> AgentRecord | None:
        async with self._sm.begin() as s:
            row = await s.get(Agent, agent_id)
            if row is None or row.account_id != account_id or row.status == "deleted":
                return None
            row.status = "deleted"
            row.deleted_at = utcnow()
        return _record(row)

    async def update(
        self, agent_id: str, account_id: str, changes: dict[str, Any]
    ) -> AgentRecord | None:
        """Apply checked changes (`tools` as `ToolDef`s); None if no such live agent."""
        async with self._sm.begin() as s:
            row = await s.get(Agent, agent_id)
            if row is None or row.account_id != account_id or row.status == "deleted":
                return None
            for key, value in changes.items():
                if key == "tools":
                    value = [t.to_json() for t in value]
                if key not in _EDITABLE:
                    raise ValueError(f"not an editable agent field: {key}")
                setattr(row, key, value)
        return _record(row)
