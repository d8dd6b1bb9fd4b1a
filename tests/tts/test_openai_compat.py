"""The OpenAI-compatible TTS provider, against the speech server double over real HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing

import numpy as np
import pytest

from parley.providers.tts.base import TTSChunk
from parley.providers.tts.errors import TTSError
from parley.providers.tts.openai_compat import OpenAICompatTTS, _PcmDecoder, voice_catalogue
from tests.doubles.tts_server import TTSServer, fail, odd_split, refused_port, speak, stall

TEXT = "Hello there, how are you today?"


@pytest.fixture
def server() -> Iterator[TTSServer]:
    srv = TTSServer(pieces=5, chunk_delay=0.05).start()
    try:
        yield srv
    finally:
        srv.stop(wait=False)


def provider_for(
    base_url: str,
    first_audio_timeout_s: float = 2.0,
    stall_timeout_s: float = 2.0,
    timeout_s: float = 5.0,
) -> OpenAICompatTTS:
    return OpenAICompatTTS(
        base_url,
        "sk-test",
        "tts-test",
        ["alloy", "nova"],
        timeout_s=timeout_s,
        first_audio_timeout_s=first_audio_timeout_s,
        stall_timeout_s=stall_timeout_s,
    )


@pytest.fixture
async def tts(server: TTSServer) -> AsyncIterator[OpenAICompatTTS]:
    provider = provider_for(server.base_url)
    yield provider
    await provider.aclose()


async def collect(
    tts: OpenAICompatTTS, text: str = TEXT, voice: str = "openai-nova"
) -> list[TTSChunk]:
    return [chunk async for chunk in tts.synthesize(text, voice)]


def test_voices_are_multilingual_unless_pinned() -> None:
    tts = OpenAICompatTTS("http://127.0.0.1:1/v1", None, "tts-1", ["alloy", " af_bella:EN ", ""])
    voices = {v.voice_id: v for v in tts.voices()}
    assert list(voices) == ["openai-alloy", "openai-af_bella"]
    assert voices["openai-alloy"].language is None
    assert voices["openai-alloy"].engine == "openai"
    assert voices["openai-af_bella"].language == "en"
    assert voices["openai-af_bella"].engine_voice == "af_bella"
    assert len(voice_catalogue(["alloy", "alloy"])) == 1


async def test_streams_the_served_speech(tts: OpenAICompatTTS, server: TTSServer) -> None:
    chunks = await collect(tts)
    req = server.speech_requests[-1]
    assert req.body == {
        "model": "tts-test",
        "voice": "nova",
        "input": TEXT,
        "response_format": "pcm",
    }
    assert req.headers["authorization"] == "Bearer sk-test"
    assert all(c.sample_rate == 24000 for c in chunks)
    assert len(chunks) > 1
    received = np.concatenate([c.samples for c in chunks])
    assert received.dtype == np.int16
    np.testing.assert_array_equal(received, server.served[-1])
    assert req.completed


async def test_first_audio_arrives_before_the_server_finishes(
    tts: OpenAICompatTTS, server: TTSServer
) -> None:
    start = time.monotonic()
    first_at: float | None = None
    pieces_when_first = -1
    async with aclosing(tts.synthesize(TEXT, "openai-alloy")) as stream:
        async for _chunk in stream:
            if first_at is None:
                first_at = time.monotonic() - start
                pieces_when_first = server.speech_requests[-1].pieces_sent
                assert not server.speech_requests[-1].completed
    total = time.monotonic() - start
    assert first_at is not None
    assert pieces_when_first < server.pieces
    assert total - first_at >= 3 * server.chunk_delay  # the rest came later, piece by piece


async def test_wav_header_is_skipped(tts: OpenAICompatTTS, server: TTSServer) -> None:
    server.queue(speak(wav=True))
    chunks = await collect(tts)
    received = np.concatenate([c.samples for c in chunks])
    np.testing.assert_array_equal(received, server.served[-1])


async def test_compressed_audio_is_refused(tts: OpenAICompatTTS, server: TTSServer) -> None:
    server.queue(speak(content_type="audio/mpeg"))
    with pytest.raises(TTSError) as err:
        await collect(tts)
    assert err.value.code == "tts_remote_error"
    assert "audio/mpeg" in err.value.message


@pytest.mark.parametrize(
    ("status", "code", "hint"),
    [
        (401, "tts_auth", "PARLEY_TTS_API_KEY"),
        (403, "tts_auth", "PARLEY_TTS_API_KEY"),
        (404, "tts_remote_error", "PARLEY_TTS_MODEL"),
        (400, "tts_remote_error", "PARLEY_TTS_VOICES"),
        (500, "tts_remote_error", "HTTP 500"),
    ],
)
async def test_http_errors(
    tts: OpenAICompatTTS, server: TTSServer, status: int, code: str, hint: str
) -> None:
    server.queue(fail(status, "the double says no"))
    start = time.monotonic()
    with pytest.raises(TTSError) as err:
        await collect(tts)
    assert time.monotonic() - start < 1.0
    assert err.value.code == code
    assert err.value.status == status
    assert hint in err.value.message
    assert "the double says no" in err.value.message
    assert server.base_url in err.value.message


async def test_connection_refused_is_quick_and_clear() -> None:
    tts = provider_for(f"http://127.0.0.1:{refused_port()}/v1")
    start = time.monotonic()
    with pytest.raises(TTSError) as err:
        await collect(tts)
    await tts.aclose()
    assert time.monotonic() - start < 1.0
    assert err.value.code == "tts_unreachable"
    assert "PARLEY_TTS_BASE_URL" in err.value.message


async def test_stalled_server_times_out(server: TTSServer) -> None:
    tts = provider_for(server.base_url, first_audio_timeout_s=0.3)
    server.queue(stall())
    start = time.monotonic()
    with pytest.raises(TTSError) as err:
        await collect(tts)
    assert time.monotonic() - start < 1.5
    assert err.value.code == "tts_timeout"
    assert "PARLEY_TTS_BASE_URL" in err.value.message
    assert await server.speech_requests[-1].wait_closed_async(2.0)
    await tts.aclose()


async def test_stall_between_pieces_times_out(server: TTSServer) -> None:
    server.chunk_delay = 1.0
    tts = provider_for(server.base_url, stall_timeout_s=0.3)
    with pytest.raises(TTSError) as err:
        await collect(tts)
    assert err.value.code == "tts_timeout"
    assert "stalled" in err.value.message
    await tts.aclose()


async def test_slow_server_runs_out_of_time(server: TTSServer) -> None:
    server.chunk_delay = 0.2
    tts = provider_for(server.base_url, timeout_s=0.5)
    with pytest.raises(TTSError) as err:
        await collect(tts)
    assert err.value.code == "tts_timeout"
    assert "speech took over 0.5 s" in err.value.message
    await tts.aclose()


async def test_slow_consumer_is_not_a_timeout(server: TTSServer) -> None:
    """Time the consumer spends pacing audio out is not the server's."""
    server.chunk_delay = 0.0
    tts = provider_for(server.base_url, timeout_s=0.5, stall_timeout_s=0.3)
    chunks = []
    async for chunk in tts.synthesize(TEXT, "openai-alloy"):
        chunks.append(chunk)
        await asyncio.sleep(0.2)
    assert len(chunks) >= 4
    await tts.aclose()


async def test_cancelling_the_consumer_closes_the_response(
    tts: OpenAICompatTTS, server: TTSServer
) -> None:
    server.chunk_delay = 1.0
    got_first = asyncio.Event()

    async def consume() -> None:
        async for _chunk in tts.synthesize(TEXT, "openai-alloy"):
            got_first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(got_first.wait(), 2.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    req = server.speech_requests[-1]
    assert await req.wait_closed_async(0.5)
    assert not req.completed


async def test_cancelling_a_consumer_busy_between_chunks_closes_the_response(
    tts: OpenAICompatTTS, server: TTSServer
) -> None:
    """As the reply does: the consumer is cancelled while pacing a chunk out, so the stream
    is parked at a `yield` and is closed by the loop's async-generator finalizer."""
    server.chunk_delay = 1.0
    got_first = asyncio.Event()

    async def consume() -> None:
        async for _chunk in tts.synthesize(TEXT, "openai-alloy"):
            got_first.set()
            await asyncio.sleep(30)  # "pacing"

    task = asyncio.create_task(consume())
    await asyncio.wait_for(got_first.wait(), 2.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await server.speech_requests[-1].wait_closed_async(0.5)


async def test_closing_the_stream_early_closes_the_response(
    tts: OpenAICompatTTS, server: TTSServer
) -> None:
    server.chunk_delay = 1.0
    async with aclosing(tts.synthesize(TEXT, "openai-alloy")) as stream:
        async for _chunk in stream:
            break
    assert await server.speech_requests[-1].wait_closed_async(0.5)


async def test_unknown_voice_and_empty_text(tts: OpenAICompatTTS, server: TTSServer) -> None:
    with pytest.raises(TTSError) as err:
        await collect(tts, voice="openai-nobody")
    assert err.value.code == "tts_unknown_voice"
    assert "PARLEY_TTS_VOICES" in err.value.message
    assert await collect(tts, text="  ") == []
    assert server.speech_requests == []


def test_decoder_joins_samples_across_odd_boundaries() -> None:
    samples = np.array([1, -2, 300, -32768, 32767, 5, 0], dtype=np.int16)
    data = samples.astype("<i2").tobytes()
    for pieces in (2, 3, 5, 14):
        decoder = _PcmDecoder(24000)
        out = [decoder.feed(p) for p in odd_split(data, pieces)]
        np.testing.assert_array_equal(np.concatenate(out), samples)
        assert decoder.pending == 0
    decoder = _PcmDecoder(24000)
    decoder.feed(data[:1])  # under 4 bytes: wait for more before deciding on a header
    np.testing.assert_array_equal(decoder.feed(data[1:]), samples)
