"""`Parley`: the blocking client (REST over `httpx.Client`, streams via `Stream`)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any

import httpx

from parley.client import _calls as api
from parley.client import _calls_ops as ops
from parley.client._calls import ToolSpec
from parley.client._calls_ops import UNSET
from parley.client._http import ClientConfig, SyncHTTP
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
from parley.client.stream import StreamOptions
from parley.client.sync_stream import Stream


class Conversations:
    def __init__(self, http: SyncHTTP) -> None:
        self._http = http

    def create(
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
        """Create a conversation session (`settings`: `tool_hold_ms`, `tool_timeout_ms`,
        `max_tool_rounds`)."""
        call = api.create_conversation(
            voice_id, system_prompt, language, tools, context_window, max_turns, settings
        )
        return self._http.call(call)

    def get(self, session_id: str) -> Conversation:
        """Configuration, status and full history."""
        return self._http.call(api.get_conversation(session_id))

    def delete(self, session_id: str) -> ConversationEnded:
        """End the session (closes its live stream; idempotent)."""
        return self._http.call(api.delete_conversation(session_id))

    def list(
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
        """One page of conversations (no history), newest first unless `order="asc"`;
        `metadata` entries must all match; `cursor` is a page's `next_cursor`."""
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
        return self._http.call(ops.list_conversations(params))

    def iter(self, *, page_size: int = 20, **filters: Any) -> Iterator[ConversationSummary]:
        """Every matching conversation, page after page by cursor (filters as `list`)."""
        page = self.list(limit=page_size, **filters)
        yield from page.data
        while page.next_cursor is not None:
            page = self.list(limit=page_size, cursor=page.next_cursor, **filters)
            yield from page.data

    def transcript(self, session_id: str, format: str = "txt") -> str:
        """The history as text: `"txt"` (plain) or `"vtt"` (WebVTT)."""
        return self._http.call(ops.transcript(session_id, format))

    def stream_token(self, session_id: str) -> StreamToken:
        """A short-lived token that opens only this session's stream (for browsers)."""
        return self._http.call(api.stream_token(session_id))

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
    ) -> Stream:
        """The session's live stream (not connected yet: use `with`, or `connect()`).

        `reconnect`: reconnect after unexpected drops, up to `max_reconnect_attempts`
        tries with exponential backoff. `last_turn_id`: the last turn this application
        already handled (e.g. kept from an earlier process); by default the last turn
        stored when the stream starts. `keep_audio`: collect the reply audio in
        `stream.audio` (about 115 MB per hour of speech at 16 kHz). `raise_on_error`:
        a server `error` event makes `wait_for` and iteration raise `ParleyError`
        (`False`: iteration yields it, `wait_for` waits on)."""
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

        def baseline() -> str | None:
            try:
                return baseline_of(self.get(session_id).last_turn_id)
            except ParleyError as exc:
                if exc.status == 401:  # e.g. a stream token: it opens the stream only
                    return None
                raise

        return Stream(self._http.config, session_id, options, baseline)


class AgentSessions:
    """`agents.sessions.create(agent_id, …)` starts one; `agents.sessions(agent_id, …)`
    (or `.list`) lists them, with the filters of `conversations.list`."""

    def __init__(self, http: SyncHTTP) -> None:
        self._http = http

    def list(
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
        """One page of the agent's sessions (`status`: active | ended | expired)."""
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
        return self._http.call(ops.list_agent_sessions(agent_id, params))

    __call__ = list

    def create(
        self,
        agent_id: str,
        metadata: Mapping[str, Any] | None = None,
        initial_message: str | None = None,
    ) -> AgentSession:
        """Start a session of the agent; stream it with `conversations.stream`."""
        return self._http.call(api.create_agent_session(agent_id, metadata, initial_message))


class Agents:
    def __init__(self, http: SyncHTTP) -> None:
        self._http = http
        self.sessions = AgentSessions(http)

    def create(
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
        return self._http.call(call)

    def get(self, agent_id: str) -> Agent:
        return self._http.call(api.get_agent(agent_id))

    def list(self, limit: int = 20, offset: int = 0) -> AgentPage:
        """One page of agents, newest first."""
        return self._http.call(api.list_agents(limit, offset))

    def iter(self, page_size: int = 20) -> Iterator[Agent]:
        """Every agent, fetching `page_size` at a time."""
        offset: int | None = 0
        while offset is not None:
            page = self.list(limit=page_size, offset=offset)
            yield from page.data
            offset = page.next_offset

    def update(
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
        """Change the given fields in place (new sessions use them; live ones keep theirs).
        `end_sessions=True` also ends the agent's live sessions (`terminated_sessions`)."""
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
        return self._http.call(ops.update_agent(agent_id, changes, end_sessions))

    def pause(self, agent_id: str, end_sessions: bool = False) -> Agent:
        """New sessions are refused (409 `agent_paused`) until `resume`."""
        return self.update(agent_id, status="paused", end_sessions=end_sessions)

    def resume(self, agent_id: str) -> Agent:
        return self.update(agent_id, status="active")

    def delete(self, agent_id: str) -> AgentDeleted:
        """Delete the agent and end its live sessions."""
        return self._http.call(api.delete_agent(agent_id))


class Voices:
    def __init__(self, http: SyncHTTP) -> None:
        self._http = http

    def list(self, language: str | None = None, engine: str | None = None) -> list[Voice]:
        return self._http.call(api.list_voices(language, engine))


class Webhooks:
    """Event webhooks; check deliveries with `parley.client.webhooks.verify`."""

    def __init__(self, http: SyncHTTP) -> None:
        self._http = http

    def create(self, url: str, events: Sequence[str] = ops.EVENTS) -> Webhook:
        """Register `url` for `events`; the result's `secret` is shown only this once."""
        return self._http.call(ops.create_webhook(url, events))

    def list(self, limit: int = 20, offset: int = 0) -> Page[Webhook]:
        return self._http.call(ops.list_webhooks(limit, offset))

    def get(self, webhook_id: str) -> Webhook:
        return self._http.call(ops.get_webhook(webhook_id))

    def delete(self, webhook_id: str) -> WebhookDeleted:
        return self._http.call(ops.delete_webhook(webhook_id))

    def deliveries(self, webhook_id: str, limit: int = 20, offset: int = 0) -> Page[Delivery]:
        """What was sent, newest first: status, attempts and each attempt's outcome."""
        return self._http.call(ops.list_deliveries(webhook_id, limit, offset))


class Parley:
    """The Parley API, blocking. `base_url` and `api_key` default to `PARLEY_BASE_URL`
    (else http://127.0.0.1:8000) and `PARLEY_API_KEY`; `timeout` is in seconds."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 30,
        *,
        http_client: httpx.Client | None = None,
    ) -> None:
        self._http = SyncHTTP(ClientConfig.resolve(base_url, api_key, timeout), http_client)
        self.conversations = Conversations(self._http)
        self.agents = Agents(self._http)
        self.voices = Voices(self._http)
        self.webhooks = Webhooks(self._http)

    @property
    def base_url(self) -> str:
        return self._http.config.base_url

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Parley:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
