"""A client that floods the stream with audio (`audio/budget.py`): what is past the budget
is dropped unheard and the client is told; the server, other requests and the session
itself go on."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np

from tests.harness import ServerThread
from tests.speech import silence
from tests.stream.conftest import new_conversation
from tests.stream_client import StreamClient


async def test_audio_far_faster_than_real_time_is_dropped_and_the_session_goes_on(
    server: ServerThread, client: httpx.Client, api_key: str
) -> None:
    sid = new_conversation(client)
    stream = await StreamClient.connect(server.ws_url, sid, api_key)
    try:
        await stream.wait_for("session_started")
        rng = np.random.default_rng(3)
        noise = (rng.standard_normal(16000 * 60) * 300).astype(np.int16)
        flood = asyncio.create_task(stream.send_audio(noise, realtime=False, chunk_ms=100))
        err = await stream.wait_for("error", timeout=30)
        assert err["code"] == "audio_too_fast" and "dropped" in err["message"]
        async with httpx.AsyncClient() as other:  # the server still answers meanwhile
            assert (await other.get(f"{server.url}/healthz", timeout=5)).status_code == 200
        await flood
        assert len(stream.of_type("error")) <= 3  # told, not flooded back
        await stream.send_audio(silence(0.5))
        await stream.send_json({"type": "inject_user_message", "text": "Still there?"})
        await stream.wait_for("turn_end", role="assistant", timeout=30)
    finally:
        await stream.close()
    history = client.get(f"/v1/conversations/{sid}").json()["history"]
    assert [t["role"] for t in history] == ["user", "assistant"]
