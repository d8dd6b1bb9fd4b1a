"""The SDK's operator surface, sync and async, against a real server: agent edits and
pauses, lists with filters and cursors, transcripts, webhooks and their deliveries."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import webvtt

from parley.client import AsyncParley, Page, Parley, ParleyError, Webhook
from parley.client.webhooks import verify
from tests.client.conftest import LOOKUP, VOICE
from tests.doubles.llm_server import LLMServer
from tests.doubles.receiver import Receiver, Reply
from tests.harness import ServerThread, llm_backed_server


@pytest.fixture(scope="module")
def server(llm: LLMServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    """As the package's server, with local webhook receivers allowed and fast retries
    (the package's `parley`/`aparley` fixtures connect to this one in this module)."""
    with llm_backed_server(
        llm.base_url,
        tmp_path_factory.mktemp("operator"),
        webhook_allow="127.0.0.1",
        webhook_backoff_s=0.05,
    ) as srv:
        yield srv


def test_update_pause_resume_and_sessions(parley: Parley) -> None:
    agent = parley.agents.create(
        name="Support", voice_id=VOICE, system_prompt="Old.", tools=[LOOKUP]
    )
    edited = parley.agents.update(agent.id, system_prompt="New.", max_turns=None)
    assert (edited.system_prompt, edited.max_turns, edited.name) == ("New.", None, "Support")
    assert [t.name for t in edited.tools] == ["lookup_order"]  # not given: kept
    assert parley.agents.update(agent.id, tools=None).tools == []
    with pytest.raises(ParleyError) as info:
        parley.agents.update(agent.id, voice_id="nope")
    assert (info.value.status, info.value.param) == (400, "voice_id")
    first = parley.agents.sessions.create(agent.id, metadata={"callSid": "CA1"})
    paused = parley.agents.pause(agent.id)
    assert paused.status == "paused" and paused.terminated_sessions is None
    with pytest.raises(ParleyError) as info:
        parley.agents.sessions.create(agent.id)
    assert (info.value.status, info.value.type, info.value.param) == (
        409,
        "agent_paused",
        "agent_id",
    )
    assert parley.agents.resume(agent.id).status == "active"
    second = parley.agents.sessions.create(agent.id, metadata={"callSid": "CA2"})
    page = parley.agents.sessions(agent.id)
    assert isinstance(page, Page) and [s.session_id for s in page] == [
        second.session_id,
        first.session_id,
    ]
    assert [
        s.session_id for s in parley.agents.sessions.list(agent.id, metadata={"callSid": "CA1"})
    ] == [first.session_id]
    ended = parley.agents.pause(agent.id, end_sessions=True)
    assert sorted(ended.terminated_sessions or []) == sorted([first.session_id, second.session_id])
    assert [s.status for s in parley.agents.sessions(agent.id, status="ended")] == [
        "ended",
        "ended",
    ]


def test_list_iter_and_transcript(parley: Parley) -> None:
    def new() -> str:
        return parley.conversations.create(voice_id=VOICE, system_prompt="Hi.").session_id

    made = [new() for _ in range(3)]
    time.sleep(0.02)
    middle = datetime.now(UTC)
    time.sleep(0.02)
    made += [new(), new()]
    page = parley.conversations.list(limit=2)
    assert [c.session_id for c in page] == made[::-1][:2]
    assert page.total == 5 and page.has_more and page.next_cursor
    after = parley.conversations.list(limit=2, cursor=page.next_cursor)
    assert [c.session_id for c in after] == made[::-1][2:4]
    assert [c.session_id for c in parley.conversations.iter(page_size=2, order="asc")] == made
    parley.conversations.delete(made[0])
    assert [c.session_id for c in parley.conversations.list(status="ended")] == [made[0]]
    assert [c.session_id for c in parley.conversations.list(created_after=middle)] == [
        made[4],
        made[3],
    ]
    assert [
        c.session_id
        for c in parley.conversations.list(created_before=middle.isoformat(), order="asc")
    ] == made[:3]
    with pytest.raises(ParleyError) as info:
        parley.conversations.list(status="sleeping")
    assert (info.value.status, info.value.param) == (400, "status")
    text = parley.conversations.transcript(made[1])
    assert text.startswith(f"Conversation {made[1]}") and "0 turns" in text
    assert list(webvtt.from_string(parley.conversations.transcript(made[1], "vtt"))) == []
    with pytest.raises(ParleyError) as info:
        parley.conversations.transcript(made[1], "srt")
    assert info.value.param == "format"


def test_webhooks_and_deliveries(parley: Parley) -> None:
    with Receiver() as rx:
        rx.plan(Reply(500))
        hook = parley.webhooks.create(rx.url(), events=["conversation.ended"])
        assert isinstance(hook, Webhook) and hook.secret and hook.secret.startswith("whsec_")
        assert [h.id for h in parley.webhooks.list()] == [hook.id]
        assert parley.webhooks.get(hook.id).secret is None
        sid = parley.conversations.create(voice_id=VOICE, system_prompt="Hi.").session_id
        parley.conversations.delete(sid)
        got = rx.wait_for(lambda r: len(r) >= 2)
        assert all(verify(hook.secret, r.headers["parley-signature"], r.body) for r in got)
        assert json.loads(got[1].body)["data"]["session_id"] == sid
        deadline = time.monotonic() + 10
        while (d := parley.webhooks.deliveries(hook.id).data[0]).status != "delivered":
            assert time.monotonic() < deadline, d
            time.sleep(0.05)
        assert d.attempts == 2 and [a.status_code for a in d.attempt_log] == [500, 200]
        assert d.event == "conversation.ended" and d.completed_at is not None
    assert parley.webhooks.delete(hook.id).deleted
    with pytest.raises(ParleyError) as info:
        parley.webhooks.create("http://10.0.0.1/hook")
    assert (info.value.status, info.value.param) == (400, "url")


async def test_the_async_twin(aparley: AsyncParley) -> None:
    agent = await aparley.agents.create(name="A", voice_id=VOICE, system_prompt="Old.")
    assert (await aparley.agents.update(agent.id, name="B")).name == "B"
    session = await aparley.agents.sessions.create(agent.id, metadata={"k": "v"})
    assert (await aparley.agents.pause(agent.id)).status == "paused"
    assert (await aparley.agents.resume(agent.id)).status == "active"
    assert [s.session_id for s in await aparley.agents.sessions(agent.id)] == [session.session_id]
    listed = await aparley.conversations.list(metadata={"k": "v"})
    assert [c.session_id for c in listed] == [session.session_id]
    assert listed.data[0].agent_id == agent.id and listed.data[0].metadata == {"k": "v"}
    assert [c.session_id async for c in aparley.conversations.iter(page_size=1)] == [
        session.session_id
    ]
    assert (await aparley.conversations.transcript(session.session_id)).startswith("Conversation")
    with Receiver() as rx:
        hook = await aparley.webhooks.create(rx.url())
        assert hook.events == [
            "conversation.started",
            "conversation.ended",
            "turn.completed",
            "tool.failed",
        ]
        await aparley.conversations.delete(session.session_id)
        await asyncio.to_thread(rx.wait_for, lambda r: len(r) >= 1)
        deliveries = await aparley.webhooks.deliveries(hook.id)
        assert deliveries.total == 1 and deliveries.data[0].event == "conversation.ended"
        assert (await aparley.webhooks.get(hook.id)).url == rx.url()
        assert [h.id for h in await aparley.webhooks.list()] == [hook.id]
        assert (await aparley.webhooks.delete(hook.id)).deleted
