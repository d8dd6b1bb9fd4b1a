"""Any OpenAI-compatible speech server (`POST /v1/audio/speech`): OpenAI, Kokoro-FastAPI,
openedai-speech, LocalAI, …

We ask for `response_format="pcm"` (OpenAI's raw 24 kHz int16 little-endian mono) and
stream the body, so the first words play before the server has finished the sentence::

    POST ─── headers ── bytes ── bytes ── … ── end
    |<- first_audio_timeout_s ->|<-stall->|
    |<---------- timeout_s (time spent waiting on the server) ---------->|

Each piece of body becomes a `TTSChunk` as it arrives; an odd trailing byte waits for the
next piece. A server that answers with a WAV header instead is tolerated (the header gives
the rate). Every failure is a `TTSError` naming the setting to fix; the HTTP response is
closed on every exit (end, error, timeout, cancellation).

Voices are configured, not discovered (the API has no voice listing): ids read
`openai-<name>`, multilingual (language None) unless written `name:xx` in PARLEY_TTS_VOICES.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import struct
from collections.abc import AsyncGenerator, Iterable

import httpx
import numpy as np
import openai
from openai import AsyncOpenAI

from parley.providers.tts.base import TTSChunk, VoiceInfo
from parley.providers.tts.errors import (
    TTS_AUTH,
    TTS_REMOTE_ERROR,
    TTS_TIMEOUT,
    TTS_UNKNOWN_VOICE,
    TTS_UNREACHABLE,
    TTSError,
)

log = logging.getLogger(__name__)

ENGINE = "openai"
SAMPLE_RATE = 24000  # OpenAI's documented rate for response_format="pcm"
DEFAULT_VOICES = ("alloy", "echo", "fable", "onyx", "nova", "shimmer")
NO_API_KEY = "no-key"  # never fall back to OPENAI_API_KEY: it would go to any server
_COMPRESSED = ("audio/mpeg", "audio/mp3", "audio/ogg", "audio/opus", "audio/aac", "audio/flac")
_MAX_WAV_HEADER = 64 * 1024


def _transport_errors() -> tuple[type[Exception], ...]:
    """Errors the body stream raises (openai wraps only the request stage). Recent openai
    releases run on `httpx2`, older ones on `httpx`: catch both."""
    found: list[type[Exception]] = [httpx.HTTPError]
    with contextlib.suppress(ImportError):
        found.append(importlib.import_module("httpx2").HTTPError)
    return tuple(found)


_TRANSPORT_ERRORS = _transport_errors()


def voice_catalogue(names: Iterable[str]) -> tuple[VoiceInfo, ...]:
    """Catalogue entries for server voice names; `name:xx` pins the language to `xx`."""
    voices: dict[str, VoiceInfo] = {}
    for spec in names:
        name, _, language = spec.strip().partition(":")
        name, language = name.strip(), language.strip().lower()
        if name:
            voices.setdefault(
                f"{ENGINE}-{name}",
                VoiceInfo(
                    voice_id=f"{ENGINE}-{name}",
                    name=name,
                    language=language or None,
                    engine=ENGINE,
                    engine_voice=name,
                ),
            )
    return tuple(voices.values())


class OpenAICompatTTS:
    """Streams speech from an OpenAI-compatible server over one pooled `AsyncOpenAI` client.

    The client never retries (`max_retries=0`): a sentence that fails is reported, and the
    reply goes on (or not) as the engine decides.
    """

    name = ENGINE

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        model: str = "tts-1",
        voices: Iterable[str] = DEFAULT_VOICES,
        *,
        sample_rate: int = SAMPLE_RATE,
        timeout_s: float = 60.0,
        first_audio_timeout_s: float = 15.0,
        stall_timeout_s: float = 10.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.sample_rate = sample_rate
        self.timeout_s = timeout_s
        self.first_audio_timeout_s = first_audio_timeout_s
        self.stall_timeout_s = stall_timeout_s
        self._voices = voice_catalogue(voices)
        self._by_id = {v.voice_id: v for v in self._voices}
        self._client = AsyncOpenAI(
            base_url=self.base_url,
            api_key=api_key or NO_API_KEY,
            max_retries=0,
            timeout=timeout_s,
        )

    def voices(self) -> tuple[VoiceInfo, ...]:
        return self._voices

    async def aclose(self) -> None:
        await self._client.close()

    async def synthesize(self, text: str, voice_id: str) -> AsyncGenerator[TTSChunk, None]:
        voice = self._by_id.get(voice_id)
        if voice is None:
            known = ", ".join(self._by_id) or "none"
            raise TTSError(
                TTS_UNKNOWN_VOICE,
                f"{voice_id!r} is not a configured voice of the TTS server at {self.base_url} "
                f"(configured: {known}; set PARLEY_TTS_VOICES)",
            )
        if not text.strip():
            return
        loop = asyncio.get_running_loop()
        started = loop.time()
        decoder = _PcmDecoder(self.sample_rate)
        first_wait = min(self.first_audio_timeout_s, self.timeout_s)
        try:
            async with contextlib.AsyncExitStack() as stack:
                try:
                    async with asyncio.timeout(first_wait):
                        response = await stack.enter_async_context(
                            self._client.audio.speech.with_streaming_response.create(
                                model=self.model,
                                voice=voice.engine_voice,
                                input=text,
                                response_format="pcm",
                            )
                        )
                        self._check_content_type(response.headers.get("content-type", ""))
                        body = response.iter_bytes()
                        closer = getattr(body, "aclose", None)  # an async generator
                        if closer is not None:
                            stack.push_async_callback(closer)
                        data = await anext(body, None)
                except TimeoutError:
                    raise self._timeout(f"no audio within {first_wait:g} s") from None
                # Only time spent waiting on the server counts: the consumer paces the audio
                # out in real time, so a long sentence may take longer than timeout_s to play.
                budget = self.timeout_s - (loop.time() - started)
                while data is not None:
                    samples = decoder.feed(data)
                    if samples.size:
                        yield TTSChunk(samples=samples, sample_rate=decoder.sample_rate)
                    wait, asked = min(self.stall_timeout_s, budget), loop.time()
                    try:
                        async with asyncio.timeout(wait):
                            data = await anext(body, None)
                    except TimeoutError:
                        raise self._timeout(self._late(wait)) from None
                    budget -= loop.time() - asked
        except openai.APIError as e:
            raise self._translate(e) from e
        except _TRANSPORT_ERRORS as e:
            raise TTSError(
                TTS_UNREACHABLE,
                f"The TTS server at {self.base_url} broke off the audio stream ({e!r}): "
                "check the server and PARLEY_TTS_BASE_URL",
            ) from e
        if decoder.pending:
            log.debug("tts server sent an odd number of bytes; dropped the last one")

    def _check_content_type(self, content_type: str) -> None:
        kind = content_type.split(";")[0].strip().lower()
        if kind in _COMPRESSED or kind.startswith(("application/json", "text/")):
            raise TTSError(
                TTS_REMOTE_ERROR,
                f"The TTS server at {self.base_url} answered {kind!r} to "
                'response_format="pcm": it needs a server that streams raw PCM '
                "(check PARLEY_TTS_BASE_URL)",
            )

    def _late(self, waited: float) -> str:
        if waited < self.stall_timeout_s:
            return f"speech took over {self.timeout_s:g} s"
        return f"audio stalled for {self.stall_timeout_s:g} s"

    def _timeout(self, what: str) -> TTSError:
        return TTSError(
            TTS_TIMEOUT,
            f"The TTS server at {self.base_url} timed out: {what} (check PARLEY_TTS_BASE_URL)",
        )

    def _translate(self, e: openai.APIError) -> TTSError:
        if isinstance(e, openai.APITimeoutError):
            return self._timeout(f"no answer within {self.timeout_s:g} s")
        if isinstance(e, openai.APIConnectionError):
            cause = f" ({e.__cause__})" if e.__cause__ else ""
            return TTSError(
                TTS_UNREACHABLE,
                f"Could not reach the TTS server at {self.base_url}{cause}: is it running? "
                "Check PARLEY_TTS_BASE_URL",
            )
        if isinstance(e, openai.APIStatusError):
            status = e.status_code
            where = f"The TTS server at {self.base_url} answered HTTP {status}: {_detail(e)}"
            if status in (401, 403):
                return TTSError(TTS_AUTH, f"{where}: check PARLEY_TTS_API_KEY", status=status)
            hint = ""
            if status in (400, 404, 422):
                hint = (
                    f": check PARLEY_TTS_MODEL ({self.model!r}), PARLEY_TTS_VOICES and "
                    "PARLEY_TTS_BASE_URL"
                )
            return TTSError(TTS_REMOTE_ERROR, f"{where}{hint}", status=status)
        return TTSError(
            TTS_REMOTE_ERROR, f"The TTS server at {self.base_url} reported an error: {e.message}"
        )


def _detail(e: openai.APIStatusError) -> str:
    body = e.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
        if isinstance(body.get("detail"), str):  # FastAPI-style servers
            return str(body["detail"])
    if isinstance(body, str) and body:
        return body[:300]
    return e.response.reason_phrase or "no detail"


class _PcmDecoder:
    """int16 little-endian mono bytes → samples, whatever the byte boundaries; skips a WAV
    header if the server sent one (and takes its sample rate)."""

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self._buf = b""
        self._started = False

    @property
    def pending(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> np.ndarray:
        buf = self._buf + data
        if not self._started:
            if len(buf) < 4:
                self._buf = buf
                return np.zeros(0, dtype=np.int16)
            if buf.startswith(b"RIFF"):
                header = _wav_header(buf)
                if header is None:
                    self._buf = buf
                    return np.zeros(0, dtype=np.int16)
                self.sample_rate, offset = header
                buf = buf[offset:]
            self._started = True
        usable = len(buf) - len(buf) % 2
        self._buf = buf[usable:]
        return np.frombuffer(buf[:usable], dtype="<i2").astype(np.int16)


def _wav_header(buf: bytes) -> tuple[int, int] | None:
    """(sample rate, offset of the samples) of a WAV header, None while incomplete."""
    if len(buf) > _MAX_WAV_HEADER:
        raise TTSError(TTS_REMOTE_ERROR, "the TTS server sent a WAV header without samples")
    rate: int | None = None
    pos = 12
    while pos + 8 <= len(buf):
        chunk_id, size = buf[pos : pos + 4], struct.unpack_from("<I", buf, pos + 4)[0]
        if chunk_id == b"data":
            if rate is None:
                raise TTSError(TTS_REMOTE_ERROR, "the TTS server sent WAV without a format")
            return rate, pos + 8
        if chunk_id == b"fmt ":
            if pos + 24 > len(buf):
                return None
            fmt, channels, rate = struct.unpack_from("<HHI", buf, pos + 8)
            bits = struct.unpack_from("<H", buf, pos + 22)[0]
            if fmt not in (1, 0xFFFE) or channels != 1 or bits != 16:
                raise TTSError(
                    TTS_REMOTE_ERROR,
                    f"the TTS server sent WAV audio Parley cannot play (format {fmt}, "
                    f"{channels} channels, {bits} bits): it needs 16-bit mono PCM",
                )
        pos += 8 + size + (size & 1)
    return None
