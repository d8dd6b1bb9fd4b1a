"""SIGTERM in the middle of a spoken reply (`parley serve` in a child process): the socket
closes with 1012 (service restart), and after a restart the history holds the user's
turn *and* what was heard of the reply; the session is still live and takes the client
back. And `kill -9` in the middle of a reply: what was stored before it is intact."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.doubles.llm_server import LLMServer, Script, text
from tests.stream_client import StreamClient
from tests.test_cli import KEY, free_port, serving

STORY = " ".join(f"This is sentence number {n} of a long story." for n in range(1, 13))


@pytest.fixture
def llm() -> Iterator[LLMServer]:
    server = LLMServer().start()
    try:
        yield server
    finally:
        server.stop(wait=False)


async def test_sigterm_mid_reply_keeps_what_was_heard(tmp_path: Path, llm: LLMServer) -> None:
    port = free_port()
    base, auth = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {KEY}"}
    env = {"PARLEY_API_KEY": KEY, "PARLEY_LLM_BASE_URL": llm.base_url, "PARLEY_LLM_MODEL": "m"}
    llm.queue(Script(text(STORY)))
    with serving(tmp_path, port, **env) as proc:
        sid = httpx.post(
            f"{base}/v1/conversations/create",
            headers=auth,
            json={"voice_id": "espeak-en-us-male", "system_prompt": "Tell stories."},
        ).json()["session_id"]
        stream = await StreamClient.connect(f"ws://127.0.0.1:{port}", sid, KEY)
        await stream.wait_for("session_started")
        await stream.send_json({"type": "inject_user_message", "text": "A story, please."})
        await stream.wait_for("turn_start", role="assistant", timeout=30)
        await asyncio.sleep(1.5)
        proc.send_signal(signal.SIGTERM)
        code, _ = await stream.wait_closed()
        assert code == 1012
        output = (await asyncio.to_thread(proc.communicate, None, 30))[0]
        # uvicorn shuts down gracefully, then re-raises the signal: the exit is SIGTERM's
        assert proc.returncode == -signal.SIGTERM, output
        assert "Application shutdown complete" in output, output
    with serving(tmp_path, port, **env):
        got = httpx.get(f"{base}/v1/conversations/{sid}", headers=auth).json()
        assert got["status"] == "active"
        user, assistant = got["history"]
        assert user["role"] == "user" and user["text"] == "A story, please."
        assert assistant["role"] == "assistant" and assistant["interrupted"]
        assert assistant["text"].startswith("This is sentence number 1")
        assert len(assistant["text"]) < len(STORY)
        back = await StreamClient.connect(f"ws://127.0.0.1:{port}", sid, KEY)
        started = await back.wait_for("session_started")
        assert started["last_turn_id"] is not None
        await back.close()


async def test_kill_9_mid_reply_loses_at_most_the_turn_in_flight(
    tmp_path: Path, llm: LLMServer
) -> None:
    """`kill -9` while the second reply is spoken: after a restart the first exchange is
    there as it was, the second user turn at most with it (the reply in flight is what may
    be lost), and the session takes the client back and answers it."""
    port = free_port()
    base, auth = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {KEY}"}
    env = {"PARLEY_API_KEY": KEY, "PARLEY_LLM_BASE_URL": llm.base_url, "PARLEY_LLM_MODEL": "m"}
    llm.queue(Script(text("Hello! How can I help?")), Script(text(STORY)), Script(text("Yes.")))
    with serving(tmp_path, port, **env) as proc:
        sid = httpx.post(
            f"{base}/v1/conversations/create",
            headers=auth,
            json={"voice_id": "espeak-en-us-male", "system_prompt": "Tell stories."},
        ).json()["session_id"]
        stream = await StreamClient.connect(f"ws://127.0.0.1:{port}", sid, KEY)
        await stream.wait_for("session_started")
        await stream.send_json({"type": "inject_user_message", "text": "Hi there."})
        await stream.wait_for("turn_end", role="assistant", timeout=30)
        await stream.send_json({"type": "inject_user_message", "text": "A story, please."})
        await stream.wait_until(
            lambda: len(stream.of_type("turn_start", role="assistant")) == 2,
            "the second reply",
            timeout=30,
        )
        await asyncio.sleep(1.5)
        proc.send_signal(signal.SIGKILL)
        code, _ = await stream.wait_closed()
        assert code != 1000  # no goodbye: the connection just dropped
        await asyncio.to_thread(proc.communicate, None, 30)
        assert proc.returncode == -signal.SIGKILL
    with serving(tmp_path, port, **env):
        got = httpx.get(f"{base}/v1/conversations/{sid}", headers=auth).json()
        assert got["status"] == "active"
        history = [(t["role"], t["text"], t.get("interrupted", False)) for t in got["history"]]
        assert history[:2] == [
            ("user", "Hi there.", False),
            ("assistant", "Hello! How can I help?", False),
        ]
        assert history[2:] in ([], [("user", "A story, please.", False)]), history
        back = await StreamClient.connect(f"ws://127.0.0.1:{port}", sid, KEY)
        try:
            await back.wait_for("session_started")
            await back.send_json({"type": "inject_user_message", "text": "Still there?"})
            end = await back.wait_for("turn_end", role="assistant", timeout=30)
            assert not end.get("interrupted")
        finally:
            await back.close()
        got = httpx.get(f"{base}/v1/conversations/{sid}", headers=auth).json()
        assert [t["text"] for t in got["history"]][-2:] == ["Still there?", "Yes."]
