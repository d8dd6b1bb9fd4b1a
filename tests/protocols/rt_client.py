"""OpenAI's own Realtime client (`openai`, `client.realtime.connect`) pointed at Parley.

Every server event is parsed by the SDK and validated strictly against
`openai.types.realtime.RealtimeServerEvent`: an event the SDK's models reject fails.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
from openai import AsyncOpenAI
from openai.types.realtime import RealtimeServerEvent
from pydantic import TypeAdapter

from parley.audio.resample import resample
from tests.harness import ServerThread

SERVER_EVENT: TypeAdapter[Any] = TypeAdapter(RealtimeServerEvent)


class Realtime:
    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.events: list[dict[str, Any]] = []
        self.times: list[float] = []
        self.failure: BaseException | None = None
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(Exception):
            while True:
                raw = await self.conn.recv_bytes()
                try:
                    self.conn.parse_event(raw)
                    SERVER_EVENT.validate_json(raw)
                except Exception as exc:
                    self.failure = exc
                self.events.append(json.loads(raw))
                self.times.append(time.monotonic())

    def of_type(self, kind: str, **match: Any) -> list[dict[str, Any]]:
        if self.failure is not None:
            raise AssertionError(f"an event failed the SDK's models: {self.failure}")
        return [
            e
            for e in self.events
            if e["type"] == kind and all(e.get(k) == v for k, v in match.items())
        ]

    async def wait_for(self, kind: str, count: int = 1, timeout: float = 30, **match: Any) -> Any:
        deadline = time.monotonic() + timeout
        while len(found := self.of_type(kind, **match)) < count:
            if time.monotonic() > deadline:
                seen = [e["type"] for e in self.events]
                raise AssertionError(f"no {count}x {kind} {match}: {seen}")
            await asyncio.sleep(0.02)
        return found[count - 1]

    async def send(self, event: dict[str, Any]) -> None:
        await self.conn.send(event)

    async def send_audio(self, samples16k: np.ndarray, chunk_ms: int = 20) -> None:
        """16 kHz speech as audio/pcm (24 kHz) appends, paced in real time."""
        samples = resample(samples16k, 16000, 24000)
        step = 24000 * chunk_ms // 1000
        start = time.monotonic()
        for i, offset in enumerate(range(0, len(samples), step)):
            chunk = samples[offset : offset + step].astype("<i2").tobytes()
            await self.send(
                {"type": "input_audio_buffer.append", "audio": base64.b64encode(chunk).decode()}
            )
            delay = start + (i + 1) * chunk_ms / 1000 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)

    async def send_silence(self, seconds: float) -> None:
        await self.send_audio(np.zeros(int(seconds * 16000), dtype=np.int16))

    def audio_bytes(self) -> int:
        deltas = self.of_type("response.output_audio.delta")
        return sum(len(base64.b64decode(e["delta"])) for e in deltas)


@contextlib.asynccontextmanager
async def connect(server: ServerThread, key: str) -> AsyncIterator[Realtime]:
    client = AsyncOpenAI(api_key=key, websocket_base_url=f"{server.ws_url}/v1")
    async with client.realtime.connect(model="gpt-realtime") as conn:
        rt = Realtime(conn)
        try:
            yield rt
        finally:
            rt._reader.cancel()
            with contextlib.suppress(BaseException):
                await rt._reader
