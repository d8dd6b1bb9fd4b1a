"""`GET /metrics` after real conversations over the socket (the package's server, its LLM
double): the turns, their latencies, errors by code and the session's end are counted.
Other tests share the server, so each check reads the change between two scrapes."""

from __future__ import annotations

import httpx
import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from tests.harness import ServerThread
from tests.speech import silence, speak
from tests.stream.conftest import new_conversation
from tests.stream_client import StreamClient

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: httpx.Client) -> Samples:
    r = client.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_a_spoken_exchange_is_counted_with_its_latencies(
    server: ServerThread, client: httpx.Client, api_key: str
) -> None:
    before = scrape(client)
    sid = new_conversation(client)
    stream = await StreamClient.connect(server.ws_url, sid, api_key)
    try:
        await stream.wait_for("session_started")
        await stream.send_audio(
            np.concatenate([silence(0.3), speak("What is the weather like today?")])
        )
        await stream.send_silence(1.5)
        start = await stream.wait_for("turn_start", role="assistant", timeout=20)
        await stream.wait_for("turn_end", role="assistant", timeout=20)
        await stream.send_json({"type": "no_such_message"})
        await stream.wait_for("error", code="unknown_message_type")
        during = scrape(client)
        assert value(during, "parley_live_conversations") >= 1
        assert value(during, "parley_open_streams") >= 1
    finally:
        await stream.close()
    assert client.delete(f"/v1/conversations/{sid}").status_code == 200
    after = scrape(client)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("parley_turns_total", role="user") == 1
    assert grew("parley_turns_total", role="assistant") == 1
    assert grew("parley_reply_latency_seconds_count", input="speech") == 1
    latency_s = grew("parley_reply_latency_seconds_sum", input="speech")
    assert abs(latency_s - start["latency_ms"] / 1000) < 0.002  # the turn_start's own figure
    for stage in ("end_of_turn", "stt_final", "llm_first_token", "tts_first_audio"):
        assert grew("parley_reply_stage_seconds_count", stage=stage) == 1, stage
    assert grew("parley_errors_total", code="unknown_message_type") == 1
    assert grew("parley_sessions_ended_total", reason="deleted") == 1
    assert value(after, "parley_event_loop_lag_seconds_count") > 0  # sampled all along
    # no label names a session, an account or a key
    labels = {v for (_, pairs) in after for _, v in pairs}
    assert sid not in labels and api_key not in labels


async def test_a_typed_turn_counts_as_text_input(
    server: ServerThread, client: httpx.Client, api_key: str
) -> None:
    before = scrape(client)
    sid = new_conversation(client)
    stream = await StreamClient.connect(server.ws_url, sid, api_key)
    try:
        await stream.wait_for("session_started")
        await stream.send_json({"type": "inject_user_message", "text": "Hello."})
        await stream.wait_for("turn_end", role="assistant", timeout=20)
    finally:
        await stream.close()
    after = scrape(client)
    count = "parley_reply_latency_seconds_count"
    assert value(after, count, input="text") - value(before, count, input="text") == 1
    assert value(after, count, input="speech") == value(before, count, input="speech")
