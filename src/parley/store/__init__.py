"""Durable state: accounts and keys, agents, conversations and their turns."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from parley.store.agents import AgentStore
from parley.store.conversations import ConversationStore
from parley.store.db import create_engine, migrate, sessionmaker
from parley.store.keys import KeyStore
from parley.store.stream_tokens import StreamTokenStore
from parley.store.webhooks import WebhookStore
from parley.webhooks.events import EventBus


class Store:
    """The database and its per-concept stores. `await Store.open(url)` migrates first."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        sm = sessionmaker(engine)
        self.keys = KeyStore(sm)
        self.events = EventBus()  # conversation events, published after each commit
        self.conversations = ConversationStore(sm, self.events)
        self.webhooks = WebhookStore(sm)
        self.agents = AgentStore(sm)
        self.stream_tokens = StreamTokenStore(sm)

    @classmethod
    async def open(cls, url: str) -> Store:
        engine = create_engine(url)
        await migrate(engine)
        return cls(engine)

    async def close(self) -> None:
        await self.engine.dispose()


__all__ = ["Store"]
