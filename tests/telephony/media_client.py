"""Twilio's side of a call, as Twilio documents it: the voice webhook, then Media Streams.

`place_call` posts the webhook form signed with the official library's
`RequestValidator.compute_signature` and reads the TwiML `<Stream>`. `TwilioMedia`
opens that stream and speaks the protocol: `connected`, `start` (with the
`<Parameter>`s as `customParameters`), the caller's audio as base64 μ-law 8 kHz `media`
every 20 ms in real time, `dtmf`, `stop`. It plays the server's `media` in real time
after a playout delay (a phone network's jitter buffer) and echoes each `mark` once the
audio before it has played; `clear` drops the buffer and echoes every pending mark at
once, as Twilio does.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
import websockets
from twilio.request_validator import RequestValidator

from parley.audio.codecs import make_codec
from parley.audio.resample import resample

AUTH_TOKEN = "twilio-test-auth-token-0123456789ab"
ACCOUNT_SID = "AC" + "0" * 32
VOICE_PATH = "/v1/telephony/twilio/voice"


@dataclass
class Answer:
    status: int
    body: str
    stream_url: str | None = None
    parameters: dict[str, str] = field(default_factory=dict)

    @property
    def xml(self) -> ET.Element:
        return ET.fromstring(self.body)


def call_form(call_sid: str, to: str, caller: str) -> dict[str, str]:
    """The fields Twilio posts for an incoming call."""
    return {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "CallSid": call_sid,
        "CallStatus": "ringing",
        "Called": to,
        "Caller": caller,
        "Direction": "inbound",
        "From": caller,
        "To": to,
    }


def place_call(
    base_url: str,
    to: str,
    caller: str = "+15550001111",
    call_sid: str = "CA" + "1" * 32,
    signed_url: str | None = None,
    token: str = AUTH_TOKEN,
    signature: str | None = None,
) -> Answer:
    """Twilio calling the voice webhook; `signed_url`: the URL Twilio thinks it called."""
    form = call_form(call_sid, to, caller)
    url = signed_url or f"{base_url}{VOICE_PATH}"
    sig = RequestValidator(token).compute_signature(url, form) if signature is None else signature
    headers = {"X-Twilio-Signature": sig} if sig else {}
    r = httpx.post(f"{base_url}{VOICE_PATH}", data=form, headers=headers, timeout=30)
    answer = Answer(r.status_code, r.text)
    if r.status_code == 200 and (stream := answer.xml.find("./Connect/Stream")) is not None:
        answer.stream_url = stream.get("url")
        answer.parameters = {
            p.get("name", ""): p.get("value", "") for p in stream.findall("Parameter")
        }
    return answer


class TwilioMedia:
    def __init__(self, ws: Any, stream_sid: str, playout_delay_s: float) -> None:
        self.ws = ws
        self.stream_sid = stream_sid
        self.codec = make_codec("mulaw", 8000)
        self.delay = playout_delay_s
        self.received: list[dict[str, Any]] = []  # every message from the server
        self.arrivals: list[float] = []  # when each arrived
        self.heard: list[np.ndarray] = []  # audio the caller heard (8 kHz)
        self.echoed: list[tuple[float, str]] = []  # (time, mark name) echoed back
        self.clears: list[float] = []
        self.closed: tuple[int | None, str] | None = None
        self._buffer: list[tuple[str, Any]] = []  # ("audio", samples) | ("mark", name)
        self._seq = 0
        self._speech = np.zeros(0, dtype=np.int16)  # queued for the microphone (8 kHz)
        self._mic: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self._filled = asyncio.Event()  # something came to play
        self._reader = asyncio.create_task(self._read())
        self._player = asyncio.create_task(self._play())

    @classmethod
    async def connect(
        cls,
        answer: Answer,
        ws_base: str,
        call_sid: str = "CA" + "1" * 32,
        playout_delay_s: float = 0.3,
        send_start: bool = True,
    ) -> TwilioMedia:
        assert answer.stream_url is not None, answer.body
        path = answer.stream_url.split("://", 1)[1].split("/", 1)[1]
        ws = await websockets.connect(f"{ws_base}/{path}", max_size=None)
        media = cls(ws, "MZ" + "2" * 32, playout_delay_s)
        await media.send("connected", protocol="Call", version="1.0.0")
        if send_start:
            await media.start(answer.parameters, call_sid)
        return media

    async def start(self, parameters: dict[str, str], call_sid: str) -> None:
        start = {
            "accountSid": ACCOUNT_SID,
            "streamSid": self.stream_sid,
            "callSid": call_sid,
            "tracks": ["inbound"],
            "customParameters": parameters,
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        }
        await self.send("start", start=start)
        self._mic = asyncio.create_task(self._microphone())

    async def send(self, event: str, **body: Any) -> None:
        self._seq += 1
        msg = {"event": event, "sequenceNumber": str(self._seq), **body}
        if event not in ("connected",):
            msg["streamSid"] = self.stream_sid
        await self.ws.send(json.dumps(msg))

    async def say(self, samples16k: np.ndarray) -> None:
        """The caller speaks (the line carries silence before and after, as a phone does)."""
        self._speech = np.concatenate([self._speech, resample(samples16k, 16000, 8000)])
        await self.wait(lambda: self._speech.size == 0, "speech sent", timeout=60)

    async def quiet(self, seconds: float) -> None:
        await self.say(np.zeros(int(seconds * 16000), dtype=np.int16))

    async def _microphone(self) -> None:
        """20 ms of μ-law `media` every 20 ms, in real time, from `start` to `stop`."""
        t0, i = time.monotonic(), 0
        while True:
            chunk, self._speech = self._speech[:160], self._speech[160:]
            if self._speech.size == 0:
                self._changed.set()
            chunk = np.pad(chunk, (0, 160 - len(chunk)))
            payload = base64.b64encode(self.codec.encode(chunk)[0]).decode()
            media = {"track": "inbound", "chunk": str(i + 1), "timestamp": str(i * 20)}
            with contextlib.suppress(websockets.ConnectionClosed):
                await self.send("media", media={**media, "payload": payload})
            i += 1
            if (wait := t0 + i * 0.02 - time.monotonic()) > 0:
                await asyncio.sleep(wait)

    async def dtmf(self, digit: str) -> None:
        await self.send("dtmf", dtmf={"track": "inbound_track", "digit": digit})

    async def stop(self, call_sid: str = "CA" + "1" * 32) -> None:
        if self._mic is not None:
            self._mic.cancel()
        await self.send("stop", stop={"accountSid": ACCOUNT_SID, "callSid": call_sid})

    # --- the far end's playback -----------------------------------------------------

    async def _read(self) -> None:
        try:
            async for text in self.ws:
                msg = json.loads(text)
                self.received.append(msg)
                self.arrivals.append(time.monotonic())
                assert msg.get("streamSid") == self.stream_sid, msg
                if msg["event"] == "media":
                    audio = self.codec.decode(base64.b64decode(msg["media"]["payload"]))
                    self._buffer.append(("audio", audio))
                elif msg["event"] == "mark":
                    self._buffer.append(("mark", msg["mark"]["name"]))
                elif msg["event"] == "clear":
                    self.clears.append(time.monotonic())
                    pending = [name for kind, name in self._buffer if kind == "mark"]
                    self._buffer.clear()
                    for name in pending:
                        await self._echo(name)
                self._filled.set()
                self._changed.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            rcvd = self.ws.protocol.close_rcvd
            self.closed = (rcvd.code, rcvd.reason) if rcvd else (None, "")
            self._changed.set()

    async def _echo(self, name: str) -> None:
        self.echoed.append((time.monotonic(), name))
        with contextlib.suppress(websockets.ConnectionClosed):
            await self.send("mark", mark={"name": name})

    async def _play(self) -> None:
        """Play the buffer in real time, 10 ms at a time, after the playout delay."""
        while True:
            while not self._buffer:
                self._filled.clear()
                await self._filled.wait()
            await asyncio.sleep(self.delay)  # the jitter buffer fills
            clock, owed = time.monotonic(), 0
            while self._buffer:
                kind, item = self._buffer[0]
                if kind == "mark":
                    self._buffer.pop(0)
                    await self._echo(item)
                    continue
                now = time.monotonic()
                owed += round((now - clock) * 8000)
                clock = now
                take = min(owed, len(item))
                if take:
                    self.heard.append(item[:take])
                    owed -= take
                    if take == len(item):
                        self._buffer.pop(0)
                    else:
                        self._buffer[0] = ("audio", item[take:])
                    continue
                await asyncio.sleep(0.01)

    # --- reading ------------------------------------------------------------------------

    def of(self, event: str) -> list[dict[str, Any]]:
        return [m for m in self.received if m["event"] == event]

    def first_arrival(self, event: str) -> float:
        return next(
            t for t, m in zip(self.arrivals, self.received, strict=True) if m["event"] == event
        )

    def reply_seconds(self) -> float:
        return sum(len(base64.b64decode(m["media"]["payload"])) for m in self.of("media")) / 8000

    async def wait(self, condition: Any, what: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} within {timeout} s; closed={self.closed}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), 0.2)

    async def wait_closed(self, timeout: float = 30.0) -> tuple[int | None, str]:
        await self.wait(lambda: self.closed is not None, "close", timeout)
        assert self.closed is not None
        return self.closed

    async def close(self) -> None:
        self._player.cancel()
        if self._mic is not None:
            self._mic.cancel()
        with contextlib.suppress(Exception):
            await self.ws.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._reader, 5)
