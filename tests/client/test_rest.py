"""Every REST method of the SDK, sync and async, against a real server."""

from __future__ import annotations

import socket
from datetime import datetime

import pytest

from parley.client import (
    Agent,
    AgentPage,
    AsyncParley,
    Conversation,
    Parley,
    ParleyError,
    Tool,
)
from tests.client.conftest import LOOKUP, VOICE
from tests.harness import ServerThread


def test_conversation_lifecycle(parley: Parley) -> None:
    created = parley.conversations.create(
        voice_id=VOICE,
        system_prompt="You are a support agent.",
        tools=[LOOKUP],
        context_window=40,
        max_turns=100,
        settings={"tool_timeout_ms": 5000},
    )
    assert isinstance(created, Conversation)
    assert created.session_id.startswith("conv_") and created.status == "ready"
    assert (created.context_window, created.max_turns) == (40, 100)
    assert created.tool_names == ["lookup_order"] and created.history == []
    assert isinstance(created.created_at, datetime) and created.created_at.tzinfo is not None
    assert created.websocket_url.endswith(f"/v1/conversations/{created.session_id}/stream")

    got = parley.conversations.get(created.session_id)
    assert got.system_prompt == "You are a support agent." and got.status == "ready"
    assert got.tools[0] == Tool(
        name="lookup_order",
        description="Look up an order by its ID",
        parameters=got.tools[0].parameters,
    )
    assert got.tools[0].parameters and got.tools[0].parameters["required"] == ["order_id"]
    assert got.total_turns == 0 and got.last_turn_id is None and got.raw["session_id"]

    token = parley.conversations.stream_token(created.session_id)
    assert token.token.startswith("pst_") and token.session_id == created.session_id
    assert token.expires_at is not None

    ended = parley.conversations.delete(created.session_id)
    assert (ended.session_id, ended.status, ended.total_turns) == (created.session_id, "ended", 0)
    assert ended.total_duration_ms == 0 and ended.ended_at is not None
    assert parley.conversations.delete(created.session_id).status == "ended"  # idempotent
    assert parley.conversations.get(created.session_id).status == "ended"
    with pytest.raises(ParleyError) as info:
        parley.conversations.stream_token(created.session_id)
    assert info.value.status == 409


def test_errors_are_parley_errors(parley: Parley, server: ServerThread) -> None:
    with pytest.raises(ParleyError) as info:
        parley.conversations.create(voice_id="no-such-voice", system_prompt="Hi.")
    err = info.value
    assert (err.status, err.type, err.param) == (400, "invalid_request_error", "voice_id")
    assert "GET /v1/voices" in err.message and "400 invalid_request_error" in str(err)

    with pytest.raises(ParleyError) as info:
        parley.conversations.create(voice_id=VOICE, system_prompt="Hi.", context_window=0)
    assert (info.value.status, info.value.param) == (400, "context_window")

    with pytest.raises(ParleyError) as info:
        parley.conversations.get("conv_doesnotexist1")
    assert (info.value.status, info.value.type, info.value.param) == (
        404,
        "not_found_error",
        "session_id",
    )
    with pytest.raises(ParleyError) as info:
        parley.agents.get("agt_doesnotexist1")
    assert (info.value.status, info.value.param) == (404, "agent_id")

    with Parley(base_url=server.url, api_key="prl_wrong") as bad:
        with pytest.raises(ParleyError) as info:
            bad.voices.list()
    assert (info.value.status, info.value.type) == (401, "authentication_error")
    assert not info.value.retryable


def test_network_errors_are_wrapped() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with Parley(base_url=f"http://127.0.0.1:{port}", api_key="k", timeout=2) as client:
        with pytest.raises(ParleyError) as info:
            client.voices.list()
    assert info.value.status is None and info.value.type == "connection_error"
    assert info.value.retryable


def test_configuration_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_BASE_URL", "http://127.0.0.1:9/base/")
    monkeypatch.setenv("PARLEY_API_KEY", "prl_env")
    client = Parley()
    assert client.base_url == "http://127.0.0.1:9/base"
    assert client._http.config.api_key == "prl_env"
    assert client._http.config.stream_url("conv_x", {"sample_rate": 8000}).startswith(
        "ws://127.0.0.1:9/base/v1/conversations/conv_x/stream?sample_rate=8000"
    )
    client.close()
    monkeypatch.delenv("PARLEY_BASE_URL")
    assert Parley(api_key="k").base_url == "http://127.0.0.1:8000"
    with pytest.raises(ValueError):
        Parley(base_url="127.0.0.1:8000")


def test_agents_pages_and_sessions(parley: Parley) -> None:
    made = [
        parley.agents.create(
            name=f"Agent {i}", voice_id="espeak-en-gb-female", system_prompt="You help."
        )
        for i in range(5)
    ]
    assert all(isinstance(a, Agent) and a.id.startswith("agt_") for a in made)
    assert made[0].max_turns == 50 and made[0].language == "en" and made[0].status == "active"
    assert parley.agents.get(made[2].id).name == "Agent 2"

    page = parley.agents.list(limit=2)
    assert isinstance(page, AgentPage)
    assert (len(page), page.total, page.limit, page.offset, page.has_more) == (2, 5, 2, 0, True)
    assert [a.name for a in page] == ["Agent 4", "Agent 3"]  # newest first
    assert page.next_offset == 2
    last = parley.agents.list(limit=2, offset=4)
    assert len(last) == 1 and not last.has_more and last.next_offset is None
    assert [a.id for a in parley.agents.iter(page_size=2)] == [a.id for a in reversed(made)]

    session = parley.agents.sessions.create(
        made[0].id, metadata={"customer_id": "c_42"}, initial_message="Hello! How can I help?"
    )
    assert session.session_id.startswith("ses_") and session.agent_id == made[0].id
    assert session.status == "active" and session.metadata == {"customer_id": "c_42"}
    assert session.initial_message == "Hello! How can I help?" and session.expires_at
    assert parley.conversations.get(session.session_id).agent_id == made[0].id
    bare = parley.agents.sessions.create(made[1].id)
    assert bare.metadata is None

    deleted = parley.agents.delete(made[0].id)
    assert deleted.id == made[0].id and deleted.status == "deleted"
    assert session.session_id in deleted.terminated_sessions
    with pytest.raises(ParleyError) as info:
        parley.agents.sessions.create(made[0].id)
    assert info.value.status == 404


def test_voices(parley: Parley) -> None:
    english = parley.voices.list(language="en")
    assert english and all(v.language == "en" for v in english)
    assert VOICE in {v.voice_id for v in english}
    assert {v.engine for v in english} >= {"espeak"}
    assert len(parley.voices.list()) > len(english)


async def test_async_twin(aparley: AsyncParley, server: ServerThread) -> None:
    conv = await aparley.conversations.create(voice_id=VOICE, system_prompt="Hi.")
    assert (await aparley.conversations.get(conv.session_id)).status == "ready"
    assert (await aparley.conversations.stream_token(conv.session_id)).token
    assert (await aparley.conversations.delete(conv.session_id)).status == "ended"
    with pytest.raises(ParleyError) as info:
        await aparley.conversations.get("conv_doesnotexist1")
    assert info.value.status == 404

    agents = [
        await aparley.agents.create(name=f"A{i}", voice_id=VOICE, system_prompt="Hi.")
        for i in range(3)
    ]
    assert (await aparley.agents.get(agents[0].id)).name == "A0"
    assert (await aparley.agents.list(limit=1)).has_more
    assert [a.id async for a in aparley.agents.iter(page_size=2)] == [
        a.id for a in reversed(agents)
    ]
    session = await aparley.agents.sessions.create(agents[0].id, metadata={"k": 1})
    assert session.metadata == {"k": 1}
    assert (await aparley.agents.delete(agents[0].id)).terminated_sessions == [session.session_id]
    assert any(v.voice_id == VOICE for v in await aparley.voices.list(language="en"))
