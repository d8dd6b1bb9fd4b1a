"""One conversation's pocketsphinx recogniser: audio batched to its worker process,
partial and final transcripts back (`pocketsphinx.py` has the provider and its pool)."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import numpy as np

from parley.providers.stt import pocketsphinx_pipe as pipe
from parley.providers.stt.base import PartialCallback, STTError, Transcript, check_samples

if TYPE_CHECKING:
    from parley.providers.stt.pocketsphinx import PocketsphinxSTT, _Worker

log = logging.getLogger("parley.providers.stt.pocketsphinx")


class PocketsphinxStream:
    """One conversation's recogniser. Use `PocketsphinxSTT.open()`."""

    interim = True

    def __init__(
        self, provider: PocketsphinxSTT, sid: int, on_partial: PartialCallback | None
    ) -> None:
        self._provider = provider
        self.sid = sid
        self._on_partial_cb = on_partial
        self._worker: _Worker | None = None
        self._utterance = 1
        self._utt_samples = 0  # fed in the current utterance
        self._pending = bytearray()
        self._partial = ""
        self._error: STTError | None = None
        self._waiters: dict[int, asyncio.Future[str]] = {}
        self._closed = False

    @property
    def worker_pid(self) -> int | None:
        return self._worker.pid if self._worker is not None else None

    def feed(self, samples: np.ndarray) -> None:
        if self._closed:
            raise STTError("stt_closed", "feed() on a closed stream")
        pcm = check_samples(samples)
        if self._error is not None or pcm.size == 0:
            return  # this utterance is lost; finish() reports why
        if self._worker is None and self._attach() is None:
            self._error = STTError("stt_unavailable", "no pocketsphinx worker is running")
            return
        self._pending += pcm.tobytes()
        self._utt_samples += pcm.size
        if len(self._pending) >= self._provider.batch_bytes:
            self._flush()

    def partial(self) -> str:
        return self._partial

    async def finish(self) -> str:
        if self._closed:
            raise STTError("stt_closed", "finish() on a closed stream")
        self._flush()
        utt, fed, error = self._utterance, self._utt_samples, self._error
        self._next_utterance()
        if error is not None:
            raise error
        if fed == 0 or self._worker is None:
            return ""
        waiter: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._waiters[utt] = waiter
        self._worker.send(pipe.FINISH, self.sid, utt)
        try:
            return await asyncio.wait_for(waiter, self._provider.finish_timeout)
        except TimeoutError:
            raise STTError(
                "stt_timeout",
                f"pocketsphinx gave no final transcript within {self._provider.finish_timeout} s",
            ) from None
        finally:
            self._waiters.pop(utt, None)

    async def cancel(self) -> None:
        if self._worker is not None and self._utt_samples:
            self._worker.send(pipe.CANCEL, self.sid, self._utterance)
        self._next_utterance()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._worker is not None:
            self._worker.send(pipe.CLOSE, self.sid, 0)
            self._worker.streams.pop(self.sid, None)
            self._worker = None
        self._fail_waiters(STTError("stt_closed", "the stream was closed"))

    # -- internals

    def _attach(self) -> _Worker | None:
        worker = self._provider._pick()
        if worker is not None:
            self._worker = worker
            worker.streams[self.sid] = self
            worker.send(pipe.OPEN, self.sid, 0)
        return worker

    def _flush(self) -> None:
        if self._pending and self._worker is not None:
            self._worker.send(pipe.AUDIO, self.sid, self._utterance, bytes(self._pending))
        self._pending.clear()

    def _next_utterance(self) -> None:
        self._utterance += 1
        self._utt_samples = 0
        self._pending.clear()
        self._partial = ""
        self._error = None

    def _fail_waiters(self, error: STTError) -> None:
        for waiter in self._waiters.values():
            if not waiter.done():
                waiter.set_exception(error)

    def _on_partial(self, utt: int, text: str) -> None:
        if utt != self._utterance or self._closed:
            return
        self._partial = text
        if self._on_partial_cb is not None:
            try:
                self._on_partial_cb(Transcript(text))
            except Exception:
                log.exception("on_partial callback failed")

    def _on_final(self, utt: int, text: str) -> None:
        waiter = self._waiters.get(utt)
        if waiter is not None and not waiter.done():
            waiter.set_result(text)

    def _on_error(self, utt: int, error: STTError) -> None:
        waiter = self._waiters.get(utt)
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
        elif utt in (0, self._utterance):  # 0: the worker could not open a decoder
            self._error = error

    def _on_worker_lost(self, error: STTError) -> None:
        self._worker = None  # the next utterance goes to a live worker
        if self._utt_samples:
            self._error = error
        self._fail_waiters(error)
