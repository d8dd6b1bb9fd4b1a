"""An OpenAI-compatible transcription server double (`POST /v1/audio/transcriptions`).

Real HTTP (uvicorn in a background thread on 127.0.0.1, an ephemeral port). It parses the
multipart upload like a real server would, records every request, and answers with
scripted transcripts::

    with STTServer() as server:                          # or: async with
        server.queue(transcript("book a table"), fail(401, "bad key"), delay(2.0))
        ... point OpenAICompatSTT at server.base_url ...
        req = server.transcriptions[-1]
        assert req.fields["language"] == "en"
        samples, rate = req.wav()                         # the uploaded audio, decoded

Unscripted requests get `default_text`.
"""

from __future__ import annotations

import asyncio
import io
import time
import wave
from collections import deque
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from tests.doubles.threaded import ThreadedServer

PATH = "/v1/audio/transcriptions"


@dataclass(frozen=True)
class Transcript:
    text: str


@dataclass(frozen=True)
class Fail:
    status: int
    message: str


@dataclass(frozen=True)
class Delay:
    seconds: float
    text: str = ""


Behaviour = Transcript | Fail | Delay


def transcript(text: str) -> Transcript:
    return Transcript(text)


def fail(status: int, message: str) -> Fail:
    return Fail(status, message)


def delay(seconds: float, text: str = "") -> Delay:
    """Answer `text` after `seconds` (to test client timeouts and cancellation)."""
    return Delay(seconds, text)


@dataclass
class UploadedFile:
    filename: str | None
    content_type: str
    data: bytes


@dataclass
class TranscriptionRequest:
    path: str
    headers: dict[str, str]
    fields: dict[str, str] = field(default_factory=dict)  # the multipart form's text fields
    file: UploadedFile | None = None
    received_at: float = field(default_factory=time.monotonic)

    def wav(self) -> tuple[np.ndarray, int]:
        """The uploaded file as (int16 mono samples, sample rate); fails unless a valid WAV."""
        assert self.file is not None, "no file part in the upload"
        with wave.open(io.BytesIO(self.file.data), "rb") as w:
            assert w.getnchannels() == 1 and w.getsampwidth() == 2, "not 16-bit mono"
            frames = w.readframes(w.getnframes())
            return np.frombuffer(frames, dtype="<i2").astype(np.int16), w.getframerate()


def parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, str], UploadedFile | None]:
    """A multipart/form-data body, parsed by the standard library's MIME parser."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise ValueError(f"not a multipart body ({content_type})")
    fields: dict[str, str] = {}
    upload: UploadedFile | None = None
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        raw = part.get_payload(decode=True)
        data = raw if isinstance(raw, bytes) else b""
        if part.get_filename() is not None or name == "file":
            upload = UploadedFile(part.get_filename(), part.get_content_type(), data)
        elif isinstance(name, str):
            fields[name] = data.decode()
    return fields, upload


class STTServer(ThreadedServer):
    """The double; `start()`/`stop()`, or use it as a (sync or async) context manager."""

    thread_name = "stt-server-double"

    def __init__(self, default_text: str = "hello from the double") -> None:
        super().__init__()
        self.default_text = default_text
        self.requests: list[TranscriptionRequest] = []
        self._queued: deque[Behaviour] = deque()
        self.app = FastAPI()
        self.app.post(PATH)(self._transcribe)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def transcriptions(self) -> list[TranscriptionRequest]:
        return [r for r in self.requests if r.path == PATH]

    def queue(self, *behaviours: Behaviour) -> None:
        """Answer the next requests so, in order; then `default_text`."""
        self._queued.extend(behaviours)

    async def _transcribe(self, request: Request) -> Response:
        body = await request.body()
        record = TranscriptionRequest(request.url.path, dict(request.headers))
        self.requests.append(record)
        try:
            record.fields, record.file = parse_multipart(
                request.headers.get("content-type", ""), body
            )
        except ValueError as exc:
            return _error(400, str(exc))
        if record.file is None or "model" not in record.fields:
            return _error(400, "'file' and 'model' are required")
        behaviour = self._queued.popleft() if self._queued else Transcript(self.default_text)
        if isinstance(behaviour, Fail):
            return _error(behaviour.status, behaviour.message)
        if isinstance(behaviour, Delay):
            await asyncio.sleep(behaviour.seconds)
        text = behaviour.text
        if record.fields.get("response_format") == "text":
            return PlainTextResponse(text)
        return JSONResponse({"text": text})

    def asgi_app(self) -> Any:
        return self.app


def _error(status: int, message: str) -> JSONResponse:
    kind = "server_error" if status >= 500 else "invalid_request_error"
    error = {"message": message, "type": kind, "param": None, "code": None}
    return JSONResponse({"error": error}, status_code=status)
