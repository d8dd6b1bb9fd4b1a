"""A test client for the native stream: real WebSocket, real codecs, real-time pacing."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import websockets
from websockets.asyncio.client import ClientConnection

from parley.audio.codecs import make_codec
from parley.audio.resample import resample


class StreamClient:
    def __init__(self, ws: ClientConnection, sample_rate: int, encoding: str) -> None:
        self.ws = ws
        self.sample_rate = sample_rate
        self.encoding = encoding
        self.encoder = make_codec(encoding, sample_rate)
        self.decoder = make_codec(encoding, sample_rate)
        self.events: list[dict[str, Any]] = []
        self.event_times: list[float] = []
        self.audio_chunks: list[tuple[float, np.ndarray]] = []  # (arrival time, samples)
        self.closed: tuple[int | None, str | None] | None = None
        self._changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(
        cls,
        base_ws_url: str,
        session_id: str,
        key: str | None,
        sample_rate: int = 16000,
        encoding: str = "pcm16",
        **params: Any,
    ) -> StreamClient:
        query = {"sample_rate": sample_rate, "encoding": encoding, **params}
        qs = "&".join(f"{k}={v}" for k, v in query.items())
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        ws = await websockets.connect(
            f"{base_ws_url}/v1/conversations/{session_id}/stream?{qs}",
            additional_headers=headers,
            max_size=None,
        )
        return cls(ws, sample_rate, encoding)

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                now = time.monotonic()
                if isinstance(message, bytes):
                    self.audio_chunks.append((now, self.decoder.decode(message)))
                else:
                    self.events.append(json.loads(message))
                    self.event_times.append(now)
                self._changed.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            rcvd = getattr(self.ws.protocol, "close_rcvd", None)
            self.closed = (rcvd.code, rcvd.reason) if rcvd else (None, None)
            self._changed.set()

    # --- sending -----------------------------------------------------------------

    async def send_audio(
        self,
        samples16k: np.ndarray,
        realtime: bool = True,
        chunk_ms: int = 20,
        speed: float = 1.0,
    ) -> None:
        """Send 16 kHz speech, converted to the stream's rate and encoding: in real time
        (`speed` times faster), or as fast as the socket takes it (`realtime=False`)."""
        samples = resample(samples16k, 16000, self.sample_rate)
        step = self.sample_rate * chunk_ms // 1000
        start = time.monotonic()
        for i, offset in enumerate(range(0, len(samples), step)):
            chunk = samples[offset : offset + step]
            if len(chunk) < step:
                chunk = np.concatenate([chunk, np.zeros(step - len(chunk), dtype=np.int16)])
            for message in self.encoder.encode(chunk):
                await self.ws.send(message)
            if realtime:
                delay = start + (i + 1) * chunk_ms / 1000 / speed - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)

    async def send_silence(self, seconds: float, realtime: bool = True) -> None:
        await self.send_audio(np.zeros(int(seconds * 16000), dtype=np.int16), realtime)

    async def send_json(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    # --- waiting -----------------------------------------------------------------

    def of_type(self, kind: str, **match: Any) -> list[dict[str, Any]]:
        return [
            e
            for e in self.events
            if e["type"] == kind and all(e.get(k) == v for k, v in match.items())
        ]

    async def wait_for(
        self, kind: str, timeout: float = 20.0, count: int = 1, **match: Any
    ) -> dict[str, Any]:
        """The `count`-th event of `kind` matching `match`, received already or awaited."""
        await self.wait_until(
            lambda: len(self.of_type(kind, **match)) >= count, f"{kind} {match}", timeout
        )
        return self.of_type(kind, **match)[count - 1]

    async def wait_until(
        self, condition: Callable[[], bool], what: str, timeout: float = 20.0
    ) -> None:
        """Wait until `condition()` holds over what was received so far (events, audio),
        re-checking as messages arrive: a wait on a condition, not a fixed sleep."""
        deadline = time.monotonic() + timeout
        while not condition():
            left = deadline - time.monotonic()
            if left <= 0 or (self.closed is not None and not self._changed.is_set()):
                raise AssertionError(
                    f"no {what} within {timeout}s; audio {self.audio_seconds():.2f} s; "
                    f"events: {self.events}"
                )
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=min(left, 0.5))

    async def wait_closed(self, timeout: float = 10.0) -> tuple[int | None, str | None]:
        await asyncio.wait_for(asyncio.shield(self._reader), timeout)
        assert self.closed is not None
        return self.closed

    def audio_seconds(self) -> float:
        return sum(len(c) for _, c in self.audio_chunks) / self.sample_rate

    async def close(self) -> None:
        await self.ws.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._reader, 5)
