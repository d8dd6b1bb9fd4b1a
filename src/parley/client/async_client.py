"""`AsyncParley`: the asyncio client (REST over `httpx.AsyncClient`, `AsyncStream`).

The same surface as `Parley`, with `await` (and `async for` for `agents.iter`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any

import httpx

from parley.client import _calls as api
from parley.client import _calls_ops as ops
from parley.client._calls import ToolSpec
from parley.client._calls_ops import UNSET
from parley.client._http import AsyncHTTP, ClientConfig
from parley.client.errors import ParleyError
from parley.client.listings import ConversationSummary, Delivery, Page, Webhook, WebhookDeleted
from parley.client.models import (
    Agent,
    AgentDeleted,
    AgentPage,
    AgentSession,
    Conversation,
    ConversationEnded,
    StreamToken,
    Voice,
)
from parley.client.resume import baseline_of
from parley.client.stream import AsyncStream, StreamOptions


class AsyncConversations:
    def __init__(self, http: AsyncHTTP) -> None:
        self._http = http

    async def create(
        self,
        *,
        voice_id: str,
        system_prompt: str,
        language: str = "en",
        tools: Sequence[ToolSpec] | None = None,
        context_window: int = 50,
        max_turns: int | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> Conversation:
        """See `Parley.conversations.create`."""
        call = api.create_conversation(
            voice_id, system_prompt, language, tools, context_window, max_turns, settings
        )
        return await self._http.call(call)

    async def get(self, session_id: str) -> Conversation:
        return await self._http.call(api.get_conversation(session_id))

    async def delete(self, session_id: str) -> ConversationEnded:
        return await self._http.call(api.delete_conversation(session_id))

    async def list(
        self,
        *,
        status: str | None = None,
        agent_id: str | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        metadata: Mapping[str, str] | None = None,
        order: str = "desc",
        limit: int = 20,
        offset: int = 0,
        cursor: str | None = None,
    ) -> Page[ConversationSummary]:
        """See `Parley.conversations.list`."""
        params = ops.list_params(
            status=status,
            agent_id=agent_id,
            created_after=created_after,
            created_before=created_before,
            metadata=metadata,
            order=order,
            limit=limit,
            offset=offset,
            cursor=cursor,
        )
        return await self._http.call(ops.list_conversations(params))

    async def iter(
        self, *, page_size: int = 20, **filters: Any
    ) -> AsyncIterator[ConversationSummary]:
        """Every matching conversation, by cursor: `async for conv in …`."""
        page = await self.list(limit=page_size, **filters)
        for row in page.data:
            yield row
        while page.next_cursor is not None:
            page = await self.list(limit=page_size, cursor=page.next_cursor, **filters)
            for row in page.data:
                yield row

    async def transcript(self, session_id: str, format: str = "txt") -> str:
        return await self._http.call(ops.transcript(session_id, format))

    async def stream_token(self, session_id: str) -> StreamToken:
        return await self._http.call(api.stream_token(session_id))

    def stream(
        self,
        session_id: str,
        *,
        sample_rate: int = 16000,
        encoding: str = "pcm16",
        vad_threshold: float = 0.5,
        reconnect: bool = True,
        max_reconnect_attempts: int = 10,
        last_turn_id: str | None = None,
        keep_audio: bool = True,
        raise_on_error: bool = True,
    ) -> AsyncStream:
        """The session's live stream, not connected yet: `async with` it (or `await
        stream.connect()`). Options as in `Parley.conversations.stream`."""
        options = StreamOptions(
            sample_rate=sample_rate,
            encoding=encoding,
            vad_threshold=vad_threshold,
            reconnect=reconnect,
            max_reconnect_attempts=max_reconnect_attempts,
            last_turn_id=last_turn_id,
            keep_audio=keep_audio,
            raise_on_error=raise_on_error,
        )

        async def baseline() -> str | None:
            try:
                return baseline_of((await self.get(session_id)).last_turn_id)
            except ParleyError as exc:
                if exc.status == 401:  # e.g. a stream token: it opens the stream only
                    return None
                raise

        return AsyncStream(self._http.config, session_id, options, baseline)


class AsyncAgentSessions:
    """As `Parley.agents.sessions`: `create`, and `await agents.sessions(agent_id, …)`."""

    def __init__(self, http: AsyncHTTP) -> None:
        self._http = http

    async def list(
        self,
        agent_id: str,
        *,
        status: str | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        metadata: Mapping[str, str] | None = None,
        order: str = "desc",
        limit: int = 20,
        offset: int = 0,
        cursor: str | None = None,
    ) -> Page[AgentSession]:
        params = ops.list_params(
            status=status,
            created_after=created_after,
            created_before=created_before,
            metadata=metadata,
            order=order,
            limit=limit,
            offset=offset,
            cursor=cursor,
        )
        return await self._http.call(ops.list_agent_sessions(agent_id, params))

    __call__ = list

    async def create(
        self,
        agent_id: str,
        metadata: Mapping[str, Any] | None = None,
        initial_message: str | None = None,
    ) -> AgentSession:
        return await self._http.call(api.create_agent_session(agent_id, metadata, initial_message))


class AsyncAgents:
    def __init__(self, http: AsyncHTTP) -> None:
        self._http = http
        self.sessions = AsyncAgentSessions(http)

    async def create(
        self,
        *,
        name: str,
        voice_id: str,
        system_prompt: str,
        language: str = "en",
        tools: Sequence[ToolSpec] | None = None,
        max_turns: int | None = 50,
        settings: Mapping[str, Any] | None = None,
    ) -> Agent:
        call = api.create_agent(name, voice_id, system_prompt, language, tools, max_turns, settings)
        return await self._http.call(call)

    async def get(self, agent_id: str) -> Agent:
        return await self._http.call(api.get_agent(agent_id))

    async def list(self, limit: int = 20, offset: int = 0) -> AgentPage:
        return await self._http.call(api.list_agents(limit, offset))

    async def iter(self, page_size: int = 20) -> AsyncIterator[Agent]:
        """Every agent, fetching `page_size` at a time: `async for agent in …`."""
        offset: int | None = 0
        while offset is not None:
            page = await self.list(limit=page_size, offset=offset)
            for agent in page.data:
                yield agent
            offset = page.next_offset

    async def update(
        self,
        agent_id: str,
        *,
        name: str = UNSET,
        voice_id: str = UNSET,
        system_prompt: str = UNSET,
        language: str = UNSET,
        tools: Sequence[ToolSpec] | None = UNSET,
        max_turns: int | None = UNSET,
        status: str = UNSET,
        settings: Mapping[str, Any] | None = UNSET,
        end_sessions: bool = False,
    ) -> Agent:
        """See `Parley.agents.update`."""
        changes = dict(
            name=name,
            voice_id=voice_id,
            system_prompt=system_prompt,
            language=language,
            tools=tools,
            max_turns=max_turns,
            status=status,
            settings=settings,
        )
        return await self._http.call(ops.update_agent(agent_id, changes, end_sessions))

    async def pause(self, agent_id: str, end_sessions: bool = False) -> Agent:
        return await self.update(agent_id, status="paused", end_sessions=end_sessions)

    async def resume(self, agent_id: str) -> Agent:
        return await self.update(agent_id, status="active")

    async def delete(self, agent_id: str) -> AgentDeleted:
        return await self._http.call(api.delete_agent(agent_id))


class AsyncVoices:
    def __init__(self, http: AsyncHTTP) -> None:
        self._http = http

    async def list(self, language: str | None = None, engine: str | None = None) -> list[Voice]:
        return await self._http.call(api.list_voices(language, engine))


class AsyncWebhooks:
    """As `Parley.webhooks`, with `await`."""

    def __init__(self, http: AsyncHTTP) -> None:
        self._http = http

    async def create(self, url: str, events: Sequence[str] = ops.EVENTS) -> Webhook:
        return await self._http.call(ops.create_webhook(url, events))

    async def list(self, limit: int = 20, offset: int = 0) -> Page[Webhook]:
        return await self._http.call(ops.list_webhooks(limit, offset))

    async def get(self, webhook_id: str) -> Webhook:
        return await self._http.call(ops.get_webhook(webhook_id))

    async def delete(self, webhook_id: str) -> WebhookDeleted:
        return await self._http.call(ops.delete_webhook(webhook_id))

    async def deliveries(self, webhook_id: str, limit: int = 20, offset: int = 0) -> Page[Delivery]:
        return await self._http.call(ops.list_deliveries(webhook_id, limit, offset))


class AsyncParley:
    """The Parley API for asyncio; configuration as in `Parley`."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 30,
        *,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self._http = AsyncHTTP(ClientConfig.resolve(base_url, api_key, timeout), http_client)
        self.conversations = AsyncConversations(self._http)
        self.agents = AsyncAgents(self._http)
        self.voices = AsyncVoices(self._http)
        self.webhooks = AsyncWebhooks(self._http)

    @property
    def base_url(self) -> str:
        return self._http.config.base_url

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncParley:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
