"""What the stream sends: the live socket, the text messages held while it is away, and
the audio codec (one object per connection: Opus keeps state in both directions).

While reconnecting (`ws` is None) microphone audio is dropped, as on a phone line; text
messages (`inject_user_message`, `update_prompt`, …) are held and go out first once the
stream is back; `keep_alive` and tool results are dropped (`hold=False`: the server fails
a call whose client disconnected).
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import numpy as np
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from parley.audio.codecs import Codec, make_codec


class Outbox:
    def __init__(self, encoding: str, sample_rate: int, hold_on_drop: bool) -> None:
        self.encoding = encoding
        self.sample_rate = sample_rate
        self.ws: ClientConnection | None = None  # None: not connected (yet, or any more)
        self._held: list[str] = []
        self._hold_on_drop = hold_on_drop  # a send that meets a dropped socket is held
        self._codec: Codec = make_codec(encoding, sample_rate)

    # --- the socket --------------------------------------------------------------------

    def new_connection(self) -> None:
        """A reconnection: fresh codec state (the server's is fresh too)."""
        self._codec = make_codec(self.encoding, self.sample_rate)

    async def attach(self, ws: ClientConnection) -> None:
        """Send what was held while disconnected, then let senders use `ws`."""
        while self._held:
            try:
                await ws.send(self._held[0])
            except ConnectionClosed:
                break
            self._held.pop(0)
        self.ws = ws

    def detach(self) -> None:
        self.ws = None

    def clear(self) -> None:
        """The stream is over: nothing held is sent."""
        self.ws = None
        self._held.clear()

    # --- sending -----------------------------------------------------------------------

    async def send_control(self, message: dict[str, Any], hold: bool = True) -> None:
        """A JSON message now, or held until the stream is back (if `hold`)."""
        text = json.dumps(message)
        ws = self.ws
        if ws is None:
            if hold:
                self._held.append(text)
            return
        try:
            await ws.send(text)
        except ConnectionClosed:
            if hold and self._hold_on_drop:
                self._held.append(text)

    async def send_binary(self, messages: list[bytes]) -> None:
        ws = self.ws
        if ws is None:
            return  # reconnecting: live audio is dropped
        with contextlib.suppress(ConnectionClosed):
            for message in messages:
                await ws.send(message)

    # --- audio -------------------------------------------------------------------------

    def encode(self, samples: np.ndarray) -> list[bytes]:
        """int16 mono samples at the stream's rate, as messages in its encoding."""
        return self._codec.encode(samples)

    def decode(self, data: bytes) -> np.ndarray:
        """One received message as int16 samples; `CodecError` if it is not audio."""
        return self._codec.decode(data)
