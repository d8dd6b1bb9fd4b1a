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
import socket
import threading
import time
import wave
from collections import deque
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser

import numpy as np
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

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


class STTServer:
    """The double; `start()`/`stop()`, or use it as a (sync or async) context manager."""

    def __init__(self, default_text: str = "hello from the double") -> None:
        self.default_text = default_text
        self.requests: list[TranscriptionRequest] = []
        self._queued: deque[Behaviour] = deque()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
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

    def start(self) -> STTServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            lifespan="off",
            loop="asyncio",
            http="h11",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=asyncio.run,
            args=(self._server.serve(sockets=[sock]),),
            name="stt-server-double",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the STT server double did not start")
            time.sleep(0.005)
        return self

    def stop(self, wait: bool = True) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._server.force_exit = True
        if self._thread is not None and wait:
            self._thread.join(10)

    def __enter__(self) -> STTServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> STTServer:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)


def _error(status: int, message: str) -> JSONResponse:
    kind = "server_error" if status >= 500 else "invalid_request_error"
    error = {"message": message, "type": kind, "param": None, "code": None}
    return JSONResponse({"error": error}, status_code=status)
