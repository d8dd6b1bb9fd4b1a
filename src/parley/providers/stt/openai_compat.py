"""Speech-to-text on a remote OpenAI-compatible server (`POST /v1/audio/transcriptions`).

Works with OpenAI itself and with self-hosted servers that copy its API
(faster-whisper-server / speaches, whisper.cpp server, LocalAI, vLLM, Groq, ...).

The endpoint is not streaming: a stream buffers the utterance and uploads it as one
16 kHz mono WAV on `finish()`, so the whole transcription time sits on the latency path
and there are no partial transcripts. Prefer a server close to Parley.

Settings (names as the configuration layer exposes them, used in error messages):
`PARLEY_STT_BASE_URL` (e.g. `http://localhost:8000/v1`; a bare `http://host:port`
gets `/v1` appended), `PARLEY_STT_API_KEY`, `PARLEY_STT_MODEL`.
"""

from __future__ import annotations

import io
import logging
import wave
from urllib.parse import urlsplit

import numpy as np
import openai

from parley.providers.stt.base import (
    SAMPLE_RATE,
    PartialCallback,
    STTError,
    check_samples,
    primary_language,
    supports_language,
)

log = logging.getLogger(__name__)

DEFAULT_MODEL = "whisper-1"


def wav_bytes(samples: np.ndarray, rate: int = SAMPLE_RATE) -> bytes:
    """Mono int16 samples as a WAV file."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.astype("<i2", copy=False).tobytes())
    return buf.getvalue()


def normalize_base_url(url: str) -> str:
    """`http://host:8000` -> `http://host:8000/v1`; URLs with a path are kept as given."""
    url = url.strip().rstrip("/")
    return url + "/v1" if urlsplit(url).path in ("", "/") else url


class OpenAICompatSTT:
    """Transcribes whole utterances on an OpenAI-compatible server."""

    name = "openai"
    languages: frozenset[str] | None = None  # whatever the server's model handles

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        model: str = DEFAULT_MODEL,
        *,
        timeout: float = 30.0,
        max_retries: int = 1,
        prompt: str | None = None,
    ) -> None:
        self.base_url = normalize_base_url(base_url)
        self.model = model
        self.prompt = prompt
        # Self-hosted servers usually want no key, but the client insists on one.
        self._client = openai.AsyncOpenAI(
            api_key=api_key or "not-set",
            base_url=self.base_url,
            timeout=timeout,
            max_retries=max_retries,
        )
        self._has_key = bool(api_key)

    def supports(self, language: str) -> bool:
        return supports_language(self.languages, language)

    async def open(
        self, language: str, on_partial: PartialCallback | None = None
    ) -> OpenAICompatStream:
        return OpenAICompatStream(self, language)

    async def close(self) -> None:
        await self._client.close()

    async def transcribe(self, samples: np.ndarray, language: str | None) -> str:
        """One request: `samples` (int16, 16 kHz) as WAV; the transcript text."""
        lang = primary_language(language) if language and language != "auto" else None
        try:
            result = await self._client.audio.transcriptions.create(
                file=("utterance.wav", wav_bytes(samples), "audio/wav"),
                model=self.model,
                response_format="json",
                language=lang or openai.omit,
                prompt=self.prompt or openai.omit,
            )
        except openai.APITimeoutError as exc:
            raise STTError(
                "stt_timeout", f"the speech-to-text server at {self.base_url} timed out ({exc})"
            ) from exc
        except openai.APIConnectionError as exc:
            raise STTError(
                "stt_unreachable",
                f"cannot reach the speech-to-text server at {self.base_url} "
                f"(PARLEY_STT_BASE_URL): {exc}",
            ) from exc
        except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
            hint = "is wrong" if self._has_key else "is not set"
            raise STTError(
                "stt_auth",
                f"the speech-to-text server at {self.base_url} refused the request "
                f"(HTTP {exc.status_code}); PARLEY_STT_API_KEY {hint}",
            ) from exc
        except openai.NotFoundError as exc:
            raise STTError(
                "stt_misconfigured",
                f"{self.base_url}/audio/transcriptions answered 404: check PARLEY_STT_BASE_URL "
                f"(usually ends in /v1) and PARLEY_STT_MODEL={self.model!r} ({_detail(exc)})",
            ) from exc
        except openai.APIStatusError as exc:
            raise STTError(
                "stt_remote_error",
                f"the speech-to-text server at {self.base_url} answered HTTP {exc.status_code} "
                f"for model {self.model!r} (PARLEY_STT_MODEL): {_detail(exc)}",
            ) from exc
        except openai.OpenAIError as exc:
            raise STTError(
                "stt_remote_error", f"speech-to-text request to {self.base_url} failed: {exc}"
            ) from exc
        return result.text.strip()


def _detail(exc: openai.APIStatusError) -> str:
    return str(exc.message)[:300]


class OpenAICompatStream:
    """Buffers one utterance at a time; transcribes it on `finish()`."""

    interim = False  # the endpoint has no interim results

    def __init__(self, provider: OpenAICompatSTT, language: str) -> None:
        self._provider = provider
        self.language = language
        self._chunks: list[np.ndarray] = []
        self._closed = False

    def feed(self, samples: np.ndarray) -> None:
        if self._closed:
            raise STTError("stt_closed", "feed() on a closed stream")
        pcm = check_samples(samples)
        if pcm.size:
            self._chunks.append(pcm.copy())

    def partial(self) -> str:
        return ""  # the endpoint has no interim results

    async def finish(self) -> str:
        if self._closed:
            raise STTError("stt_closed", "finish() on a closed stream")
        chunks, self._chunks = self._chunks, []
        if not chunks:
            return ""
        return await self._provider.transcribe(np.concatenate(chunks), self.language)

    async def cancel(self) -> None:
        self._chunks = []

    async def close(self) -> None:
        self._closed = True
        self._chunks = []
