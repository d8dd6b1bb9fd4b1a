"""The OpenAI-compatible STT provider against a real HTTP server double."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from parley.providers.stt.base import STTError, STTStream
from parley.providers.stt.openai_compat import OpenAICompatSTT, normalize_base_url
from tests.doubles.stt_server import STTServer, delay, fail, transcript
from tests.doubles.tts_server import refused_port
from tests.speech import speak


@pytest.fixture(scope="module")
def server() -> Iterator[STTServer]:
    with STTServer() as srv:
        yield srv


def feed_frames(stream: STTStream, audio: np.ndarray) -> None:
    for i in range(0, len(audio), 320):
        stream.feed(audio[i : i + 320])


async def test_uploads_the_utterance_as_wav_and_returns_the_transcript(
    server: STTServer,
) -> None:
    stt = OpenAICompatSTT(server.base_url, api_key="sk-test", model="whisper-large-v3")
    audio = speak("See you tomorrow")
    server.queue(transcript(" See you tomorrow. "))
    try:
        stream = await stt.open("en-US")
        feed_frames(stream, audio)
        assert stream.partial() == ""  # this endpoint gives no interim results
        assert await stream.finish() == "See you tomorrow."
    finally:
        await stt.close()
    req = server.transcriptions[-1]
    assert req.fields["model"] == "whisper-large-v3"
    assert req.fields["language"] == "en"
    assert req.headers["authorization"] == "Bearer sk-test"
    assert req.file is not None and req.file.filename == "utterance.wav"
    samples, rate = req.wav()
    assert rate == 16000
    np.testing.assert_array_equal(samples, audio)


async def test_each_finish_sends_its_own_utterance(server: STTServer) -> None:
    stt = OpenAICompatSTT(server.base_url)
    first, second = speak("Yes please"), speak("How much does it cost")
    server.queue(transcript("yes please"), transcript("how much does it cost"))
    try:
        stream = await stt.open("en")
        before = len(server.transcriptions)
        assert await stream.finish() == ""  # nothing fed: no request
        assert len(server.transcriptions) == before
        feed_frames(stream, first)
        assert await stream.finish() == "yes please"
        feed_frames(stream, speak("Where is the nearest hospital"))
        await stream.cancel()
        feed_frames(stream, second)
        assert await stream.finish() == "how much does it cost"
    finally:
        await stt.close()
    uploads = [r.wav()[0] for r in server.transcriptions[before:]]
    assert len(uploads) == 2
    np.testing.assert_array_equal(uploads[0], first)
    np.testing.assert_array_equal(uploads[1], second)


async def test_bare_host_gets_v1(server: STTServer) -> None:
    assert normalize_base_url("http://h:8000/") == "http://h:8000/v1"
    assert normalize_base_url("https://api.groq.com/openai/v1") == "https://api.groq.com/openai/v1"
    stt = OpenAICompatSTT(f"http://127.0.0.1:{server.port}", max_retries=0)
    try:
        stream = await stt.open("fr")
        stream.feed(speak("Yes please"))
        assert await stream.finish() == server.default_text
    finally:
        await stt.close()
    assert server.transcriptions[-1].fields["language"] == "fr"


@pytest.mark.parametrize(
    ("status", "code", "names"),
    [
        (401, "stt_auth", "PARLEY_STT_API_KEY"),
        (404, "stt_misconfigured", "PARLEY_STT_MODEL"),
        (500, "stt_remote_error", "HTTP 500"),
    ],
)
async def test_server_errors_name_the_setting(
    server: STTServer, status: int, code: str, names: str
) -> None:
    stt = OpenAICompatSTT(server.base_url, model="nope", max_retries=0)
    server.queue(fail(status, "scripted failure"))
    try:
        stream = await stt.open("en")
        stream.feed(speak("Yes please"))
        with pytest.raises(STTError) as err:
            await stream.finish()
    finally:
        await stt.close()
    assert err.value.code == code
    assert names in err.value.message


async def test_unreachable_server() -> None:
    stt = OpenAICompatSTT(f"http://127.0.0.1:{refused_port()}/v1", max_retries=0)
    try:
        stream = await stt.open("en")
        stream.feed(speak("Yes please"))
        with pytest.raises(STTError) as err:
            await stream.finish()
    finally:
        await stt.close()
    assert err.value.code == "stt_unreachable"
    assert "PARLEY_STT_BASE_URL" in err.value.message


async def test_slow_server_times_out(server: STTServer) -> None:
    stt = OpenAICompatSTT(server.base_url, timeout=0.3, max_retries=0)
    server.queue(delay(1.0, "too late"))
    try:
        stream = await stt.open("en")
        stream.feed(speak("Yes please"))
        with pytest.raises(STTError) as err:
            await stream.finish()
    finally:
        await stt.close()
    assert err.value.code == "stt_timeout"
