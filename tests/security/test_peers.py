"""Two server processes on one PostgreSQL (as behind a load balancer): a DELETE that lands
on one ends the session live on the other, a stream that opens on one takes the session
over from the other (which stores what was heard of its reply and lets go), and a
server that died holding a session is not waited for (`parley.peers`)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from parley.store import Store
from tests.doubles.llm_server import LLMServer, Script, text
from tests.harness import ServerThread, fresh_database_url, server_settings
from tests.stream_client import StreamClient

pytestmark = pytest.mark.postgres

STORY = " ".join(f"Sentence number {n} of a long story goes on." for n in range(1, 30))


@pytest.fixture
def llm() -> Iterator[LLMServer]:
    with LLMServer() as server:
        yield server


@contextlib.contextmanager
def two_servers(llm: LLMServer, tmp: Path) -> Iterator[tuple[ServerThread, ServerThread]]:
    url = fresh_database_url("postgres", tmp)
    with contextlib.ExitStack() as stack:
        servers = [
            stack.enter_context(
                ServerThread(
                    server_settings(
                        url, tmp / name, llm_base_url=llm.base_url, llm_model="test-model"
                    )
                )
            )
            for name in ("a", "b")
        ]
        yield servers[0], servers[1]


def start(server: ServerThread, key: str) -> str:
    body = {"voice_id": "espeak-en-us-male", "system_prompt": "Be brief."}
    r = httpx.post(
        f"{server.url}/v1/conversations/create",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
    )
    assert r.status_code == 200, r.text
    return str(r.json()["session_id"])


def history(server: ServerThread, key: str, sid: str) -> dict:
    r = httpx.get(
        f"{server.url}/v1/conversations/{sid}", headers={"Authorization": f"Bearer {key}"}
    )
    assert r.status_code == 200, r.text
    return r.json()


async def test_delete_on_one_server_ends_the_stream_on_the_other(
    llm: LLMServer, tmp_path: Path
) -> None:
    llm.queue(Script(text("Hello there!")))
    with two_servers(llm, tmp_path) as (a, b):
        key = a.new_key()
        sid = start(a, key)
        stream = await StreamClient.connect(a.ws_url, sid, key)
        try:
            await stream.wait_for("session_started")
            await stream.send_json({"type": "inject_user_message", "text": "Hi."})
            await stream.wait_for("turn_end", role="assistant", timeout=30)

            r = await asyncio.to_thread(
                httpx.delete,
                f"{b.url}/v1/conversations/{sid}",
                headers={"Authorization": f"Bearer {key}"},
                timeout=30,
            )
            assert r.status_code == 200, r.text
            assert r.json()["status"] == "ended"
            assert r.json()["total_turns"] == 2
            # server A ended it before B answered: the client was told, then closed
            await stream.wait_for("session_ended", reason="deleted", timeout=5)
            code, reason = await stream.wait_closed(timeout=5)
            assert code == 4000 and "deleted" in (reason or "")
        finally:
            await stream.close()
        got = history(a, key, sid)
        assert got["status"] == "ended"
        assert [(t["role"], t["text"]) for t in got["history"]] == [
            ("user", "Hi."),
            ("assistant", "Hello there!"),
        ]


async def test_a_stream_on_another_server_takes_the_session_over(
    llm: LLMServer, tmp_path: Path
) -> None:
    llm.queue(Script(text("Hello there!")), Script(text(STORY)), Script(text("Welcome back.")))
    with two_servers(llm, tmp_path) as (a, b):
        key = a.new_key()
        sid = start(a, key)
        first = await StreamClient.connect(a.ws_url, sid, key)
        second: StreamClient | None = None
        try:
            await first.wait_for("session_started")
            await first.send_json({"type": "inject_user_message", "text": "Hi."})
            await first.wait_for("turn_end", role="assistant", timeout=30)
            await first.send_json({"type": "inject_user_message", "text": "Tell me a story."})
            await first.wait_for("turn_start", role="assistant", timeout=30)
            # (the reply's audio goes out a little ahead of being heard)
            await first.wait_until(lambda: first.audio_seconds() > 3.0, "story audio", 30)

            second = await StreamClient.connect(b.ws_url, sid, key)
            started = await second.wait_for("session_started", timeout=30)
            assert started["last_turn_id"] == "turn_004"  # the cut story, stored by A first
            code, _ = await first.wait_closed(timeout=5)
            assert code == 4409  # replaced by a newer connection

            await second.send_json({"type": "inject_user_message", "text": "Are you there?"})
            await second.wait_for("turn_end", role="assistant", timeout=30)
        finally:
            await first.close()
            if second is not None:
                await second.close()
        turns = history(b, key, sid)["history"]
        assert [t["turn_id"] for t in turns] == [f"turn_{n:03d}" for n in range(1, 7)]
        assert [t["role"] for t in turns] == ["user", "assistant"] * 3
        story = turns[3]
        assert story["interrupted"] is True  # cut where A's client stopped hearing it
        assert story["text"].startswith("Sentence number 1") and len(story["text"]) < len(STORY)
        assert turns[5]["text"] == "Welcome back."
        # B answered with the whole conversation as context, A's cut story included
        context = [m["content"] for m in llm.chat_requests[-1].body["messages"]]
        assert "Hello there!" in context
        assert any(m.startswith(story["text"]) for m in context)


async def test_a_server_that_died_holding_the_session_is_not_waited_for(
    llm: LLMServer, tmp_path: Path
) -> None:
    with two_servers(llm, tmp_path) as (a, b):
        key = a.new_key()
        sid = start(a, key)
        store = await Store.open(a.settings.resolved_database_url())
        try:
            assert await store.conversations.claim(sid, "srv_gone") is None
        finally:
            await store.close()
        b.app.state.ctx.sessions.peers.wait_s = 120.0  # were it asked, it would wait this
        began = time.monotonic()
        stream = await StreamClient.connect(b.ws_url, sid, key)
        try:
            await stream.wait_for("session_started", timeout=30)
        finally:
            await stream.close()
        assert time.monotonic() - began < 30
