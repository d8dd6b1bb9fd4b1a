"""Hypothesis against the native stream: arbitrary text messages (JSON and not) and
binary frames in every encoding. The server must not crash and the session must stay
alive: after each batch the socket still answers a probe."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parley.audio.codecs import ENCODINGS
from tests.harness import ServerThread, fresh_database_url, server_settings

TYPES = [
    "keep_alive",
    "KeepAlive",
    "inject_user_message",
    "inject_agent_message",
    "update_prompt",
    "update_voice",
    "tool_result",
    "nope",
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=50),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
control = st.builds(
    lambda t, extra: json.dumps({"type": t, **extra}),
    st.sampled_from(TYPES) | st.text(max_size=20),
    st.dictionaries(
        st.sampled_from(["text", "prompt", "voice_id", "call_id", "result", "error", "x"]),
        json_values,
        max_size=4,
    ),
)
texts = control | st.text(max_size=200) | json_values.map(json.dumps) | st.just("[" * 5000)
frames = st.binary(max_size=4000)
messages = st.lists(texts | frames, min_size=1, max_size=12)

FUZZED: dict[str, int] = {"messages": 0}


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerThread, str, str]]:
    tmp: Path = tmp_path_factory.mktemp("fuzzws")
    with ServerThread(server_settings(fresh_database_url("sqlite", tmp), tmp)) as server:
        key = server.new_key("fuzz")
        sid = httpx.post(
            f"{server.url}/v1/conversations/create",
            json={"voice_id": "espeak-en-us-female", "system_prompt": "Hi."},
            headers={"Authorization": f"Bearer {key}"},
        ).json()["session_id"]
        yield server, key, sid


async def _batch(
    server: ServerThread, key: str, sid: str, encoding: str, batch: list[Any], probe: str
) -> None:
    url = f"{server.ws_url}/v1/conversations/{sid}/stream?encoding={encoding}&sample_rate=8000"
    async with websockets.connect(
        url, additional_headers={"Authorization": f"Bearer {key}"}, max_size=None
    ) as ws:
        for message in batch:
            await ws.send(message)
        await ws.send(json.dumps({"type": probe}))
        async with asyncio.timeout(20):
            while True:
                raw = await ws.recv()
                if isinstance(raw, str) and probe in raw:
                    assert json.loads(raw)["code"] == "unknown_message_type"
                    return


@pytest.mark.parametrize("encoding", list(ENCODINGS))
def test_any_messages_leave_the_session_alive(
    srv: tuple[ServerThread, str, str], encoding: str
) -> None:
    server, key, sid = srv
    count = [0]

    @settings(
        max_examples=30, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(batch=messages)
    def run(batch: list[Any]) -> None:
        count[0] += 1
        asyncio.run(_batch(server, key, sid, encoding, batch, f"probe_{count[0]}"))
        FUZZED["messages"] += len(batch)

    run()
    assert httpx.get(f"{server.url}/healthz").status_code == 200
