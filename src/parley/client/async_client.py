"""`AsyncParley`: the asyncio client (REST over `httpx.AsyncClient`, `AsyncStream`).

The same surface as `Parley`, with `await` (and `async for` for `agents.iter`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from types import TracebackType
from typing import Any

import httpx

from parley.client import _calls as api
from parley.client._calls import ToolSpec
from parley.client._http import AsyncHTTP, ClientConfig
from parley.client.errors import ParleyError
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
    def __init__(self, http: AsyncHTTP) -> None:
        self._http = http

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
    ) -> Agent:
        call = api.create_agent(name, voice_id, system_prompt, language, tools, max_turns)
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

    async def delete(self, agent_id: str) -> AgentDeleted:
        return await self._http.call(api.delete_agent(agent_id))


class AsyncVoices:
    def __init__(self, http: AsyncHTTP) -> None:
        self._http = http

    async def list(self, language: str | None = None, engine: str | None = None) -> list[Voice]:
        return await self._http.call(api.list_voices(language, engine))


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
