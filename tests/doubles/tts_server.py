"""An OpenAI-compatible speech server double (`POST /v1/audio/speech`), over real HTTP.

It speaks real speech: the requested text synthesized with the project's own espeak-ng,
resampled to 24 kHz, sent as raw int16 PCM (OpenAI's `response_format="pcm"`) in several
pieces split at odd byte offsets, with `chunk_delay` between pieces. It runs uvicorn in a
background thread on 127.0.0.1, so it serves sync and async tests alike::

    with TTSServer(chunk_delay=0.05) as server:          # or `await`-style: async with
        server.queue(fail(401, "bad key"))               # the next request fails…
        server.queue(stall())                            # …the one after hangs after headers
        ... point a client at server.base_url ...
        req = server.speech_requests[-1]
        assert req.body["voice"] == "alloy" and req.completed
        assert server.served[-1]                          # the exact samples it sent

Behaviours: `speak()` (default), `fail(status, message)`, `stall()` (headers, then silence
until the client hangs up), `speak(wav=True)` (a WAV header first, as some servers do),
`speak(content_type="audio/mpeg")`.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from parley.audio.resample import resample
from parley.providers.tts.espeak import EspeakTTS
from tests.doubles.threaded import ThreadedServer

RATE = 24000
ESPEAK_VOICE = "espeak-en-us-female"


@dataclass(frozen=True)
class Speak:
    wav: bool = False
    content_type: str = "audio/pcm"


@dataclass(frozen=True)
class Fail:
    status: int
    message: str


@dataclass(frozen=True)
class Stall:
    pass


Behaviour = Speak | Fail | Stall


def speak(*, wav: bool = False, content_type: str = "audio/pcm") -> Speak:
    return Speak(wav, content_type)


def fail(status: int, message: str) -> Fail:
    return Fail(status, message)


def stall() -> Stall:
    return Stall()


def speech_pcm(text: str) -> np.ndarray:
    """What the double serves for `text`: espeak-ng speech at 24 kHz, int16."""
    samples = EspeakTTS().synthesize_blocking(text, ESPEAK_VOICE)
    tts_rate = EspeakTTS().sample_rate
    return resample(samples, tts_rate, RATE)


def odd_split(data: bytes, pieces: int) -> list[bytes]:
    """`data` in `pieces` parts, cut at odd offsets so samples straddle the cuts."""
    cuts = sorted({(len(data) * k // pieces) | 1 for k in range(1, pieces)} - {len(data)})
    bounds = [0, *[c for c in cuts if 0 < c < len(data)], len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False) if b > a]


def wav_header(rate: int) -> bytes:
    """A streaming WAV header (sizes unknown, as servers send them), with a LIST chunk."""
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    info = b"INFOISFT\x06\x00\x00\x00double"
    return (
        b"RIFF\xff\xff\xff\xffWAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"LIST"
        + struct.pack("<I", len(info))
        + info
        + b"data\xff\xff\xff\xff"
    )


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any  # the decoded JSON body (None when empty)
    received_at: float = field(default_factory=time.monotonic)
    pieces_sent: int = 0
    completed: bool = False  # the whole response was sent
    _closed: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def closed_by_client(self) -> bool:
        return self._closed.is_set()

    def wait_closed(self, timeout: float = 2.0) -> bool:
        return self._closed.wait(timeout)

    async def wait_closed_async(self, within: float = 2.0) -> bool:
        return await asyncio.to_thread(self._closed.wait, within)


class TTSServer(ThreadedServer):
    """The double; `start()`/`stop()`, or use it as a (sync or async) context manager."""

    thread_name = "tts-server-double"

    def __init__(self, *, pieces: int = 5, chunk_delay: float = 0.0) -> None:
        super().__init__()
        self.pieces = pieces
        self.chunk_delay = chunk_delay
        self.requests: list[RecordedRequest] = []
        self.served: list[np.ndarray] = []  # the samples of each spoken response
        self._queued: deque[Behaviour] = deque()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def speech_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == "/v1/audio/speech"]

    def queue(self, *behaviours: Behaviour) -> None:
        """Answer the next requests so, in order; then speak."""
        self._queued.extend(behaviours)

    def asgi_app(self) -> Any:
        return self._app

    # --- ASGI --------------------------------------------------------------------

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        record = RecordedRequest(scope["method"], scope["path"], headers, body)
        self.requests.append(record)
        if scope["method"] != "POST" or scope["path"] != "/v1/audio/speech":
            await _json(send, 404, {"error": {"message": f"no route {scope['path']}"}})
            return
        behaviour = self._queued.popleft() if self._queued else Speak()
        play = asyncio.create_task(self._play(behaviour, record, send))
        hangup = asyncio.create_task(_wait_disconnect(receive))
        done, _ = await asyncio.wait({play, hangup}, return_when=asyncio.FIRST_COMPLETED)
        for task in (play, hangup):
            task.cancel()
        if play in done:
            play.result()
        elif not record.completed:
            record._closed.set()

    async def _play(self, behaviour: Behaviour, record: RecordedRequest, send: Any) -> None:
        if isinstance(behaviour, Fail):
            kind = "server_error" if behaviour.status >= 500 else "invalid_request_error"
            error = {"message": behaviour.message, "type": kind, "param": None, "code": None}
            await _json(send, behaviour.status, {"error": error})
            record.completed = True
            return
        content_type = behaviour.content_type if isinstance(behaviour, Speak) else "audio/pcm"
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", content_type.encode())],
            }
        )
        if isinstance(behaviour, Stall):
            await asyncio.Event().wait()  # until the client hangs up
        text = str((record.body or {}).get("input", ""))
        samples = await asyncio.to_thread(speech_pcm, text)
        self.served.append(samples)
        data = samples.astype("<i2").tobytes()
        if isinstance(behaviour, Speak) and behaviour.wav:
            data = wav_header(RATE) + data
        for i, piece in enumerate(odd_split(data, self.pieces)):
            if i and self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
            await send({"type": "http.response.body", "body": piece, "more_body": True})
            record.pieces_sent += 1
        record.completed = True
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _wait_disconnect(receive: Any) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _json(send: Any, status: int, obj: Any) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": json.dumps(obj).encode()})


def refused_port() -> int:
    """A 127.0.0.1 port nothing listens on (bound, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
