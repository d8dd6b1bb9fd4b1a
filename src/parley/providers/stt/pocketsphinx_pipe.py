"""The pipe protocol between the server and its pocketsphinx worker processes.

Both directions carry messages of a header `<IBII` (payload length, op, stream id,
utterance number) and then the payload: int16 PCM for audio, UTF-8 for text. Messages of
a finished or cancelled utterance are recognised by their utterance number and dropped.

    server -> worker   OPEN sid | AUDIO sid utt pcm | FINISH sid utt | CANCEL sid utt | CLOSE sid
    worker -> server   READY | PARTIAL sid utt text | FINAL sid utt text | ERROR sid utt text

Also here: the restart back-off of a worker that keeps failing.
"""

from __future__ import annotations

import asyncio
import os
import select
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass

from parley.providers.stt.base import SAMPLE_RATE

HEADER = struct.Struct("<IBII")  # payload length, op, stream id, utterance number
# server -> worker
OPEN, AUDIO, FINISH, CANCEL, CLOSE = 1, 2, 3, 4, 5
# worker -> server
READY, PARTIAL, FINAL, ERROR = 10, 11, 12, 13
BACKLOG_WARN_BYTES = 5 * 2 * SAMPLE_RATE  # 5 s of audio queued for one worker
_BACKOFF_BASE_S = 0.5
_BACKOFF_MAX_S = 30.0


@dataclass(frozen=True)
class Message:
    op: int
    sid: int
    utterance: int
    payload: bytes = b""


def encode(op: int, sid: int = 0, utterance: int = 0, payload: bytes = b"") -> bytes:
    return HEADER.pack(len(payload), op, sid, utterance) + payload


def restart_delay(failures: int) -> float:
    """Seconds to wait before restarting a worker after `failures` failed starts in a row:
    at once after a crash of a worker that had started, then 1, 2, 4, ... up to 30 s."""
    if failures <= 0:
        return 0.0
    return min(_BACKOFF_MAX_S, _BACKOFF_BASE_S * 2**failures)


async def read_messages(stream: asyncio.StreamReader) -> AsyncIterator[Message]:
    """The messages on `stream` (the server's end of a worker's stdout) until it closes."""
    try:
        while True:
            size, op, sid, utt = HEADER.unpack(await stream.readexactly(HEADER.size))
            payload = await stream.readexactly(size) if size else b""
            yield Message(op, sid, utt, payload)
    except (asyncio.IncompleteReadError, ConnectionError):
        return


class FdReader:
    """The worker's end of its stdin: exact-size reads, and whether more input is waiting."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buf = bytearray()

    def pending(self) -> bool:
        return bool(self._buf) or bool(select.select([self._fd], [], [], 0)[0])

    def read(self, n: int) -> bytes | None:
        while len(self._buf) < n:
            chunk = os.read(self._fd, max(65536, n - len(self._buf)))
            if not chunk:
                return None
            self._buf += chunk
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def message(self) -> Message | None:
        """The next message, or None at end of input."""
        head = self.read(HEADER.size)
        if head is None:
            return None
        size, op, sid, utt = HEADER.unpack(head)
        payload = self.read(size) if size else b""
        if payload is None:
            return None
        return Message(op, sid, utt, payload)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
