"""A dropped stream's conversation lingers for a reconnect, and longer while its reply is
still being finished; a reconnect in that time gets the same, living conversation."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.doubles.llm_server import LLMServer, Script, text
from tests.harness import ServerThread, fresh_database_url, server_settings
from tests.speech import silence, speak
from tests.stream.conftest import new_conversation
from tests.stream_client import StreamClient

STORY = (
    "Once upon a time, a keeper lived in a lighthouse by the sea. "
    "Every night he climbed the stairs and lit the lamp for the ships. "
    "One stormy night, the lamp went out."
)


@pytest.fixture
def quick_linger(llm: LLMServer, tmp_path: Path) -> Iterator[ServerThread]:
    settings = server_settings(
        fresh_database_url("sqlite", tmp_path),
        tmp_path,
        llm_base_url=llm.base_url,
        llm_model="test-model",
        session_linger_s=0.3,
    )
    with ServerThread(settings) as srv:
        yield srv


async def test_reconnecting_after_the_linger_while_the_reply_plays_keeps_the_conversation(
    quick_linger: ServerThread, llm: LLMServer
) -> None:
    """The linger (0.3 s) is over while the ~8 s reply still plays, so the session's
    reaper is waiting for the reply to finish; the reconnect must call it off. (It used
    to go on regardless and close the conversation under the reconnected client.)"""
    key = quick_linger.new_key()
    llm.queue(Script(text(STORY)))
    with httpx.Client(
        base_url=quick_linger.url, headers={"Authorization": f"Bearer {key}"}
    ) as client:
        sid = new_conversation(client)
        first = await StreamClient.connect(quick_linger.ws_url, sid, key)
        await first.wait_for("session_started")
        await first.send_json({"type": "inject_user_message", "text": "Tell me a story."})
        await first.wait_for("turn_start", role="assistant", timeout=20)
        await first.close()  # dropped mid-reply
        await asyncio.sleep(0.8)  # the linger is over; the reply is not

        again = await StreamClient.connect(quick_linger.ws_url, sid, key, last_turn_id="turn_001")
        try:
            await again.wait_for("session_started")
            # well after the linger, still within the reply: the reaper is waiting on it
            await again.wait_until(lambda: again.audio_seconds() > 1.0, "reply audio", 20)
            await again.wait_for("turn_end", role="assistant", turn_id="turn_002", timeout=30)
            # the conversation lives on for this client: it still hears (its recogniser
            # was not closed under it) and answers
            await again.send_audio(np.concatenate([silence(0.3), speak("Can you help me?")]))
            await again.send_silence(1.5)
            await again.wait_for("turn_end", role="assistant", turn_id="turn_004", timeout=30)
            assert again.of_type("error") == []
        finally:
            await again.close()
        history = client.get(f"/v1/conversations/{sid}").json()["history"]
        assert [(t["turn_id"], t["role"]) for t in history] == [
            ("turn_001", "user"),
            ("turn_002", "assistant"),
            ("turn_003", "user"),
            ("turn_004", "assistant"),
        ]
        assert history[1]["text"] == STORY
        assert history[2]["text"]  # the spoken question was heard
