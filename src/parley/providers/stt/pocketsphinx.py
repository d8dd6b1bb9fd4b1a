"""pocketsphinx: embedded, offline, English-only speech-to-text, decoded in worker processes.

Why processes: pocketsphinx holds the GIL while it decodes (a thread stalled the event
loop for up to 200 ms), so decoding runs in a small pool of long-lived worker processes
(`python -m parley.providers.stt.pocketsphinx_worker`), each hosting many decoders keyed by
stream id. The models load once per worker and the 27 MB language model is shared by
all decoders of a worker; each stream gets a fresh decoder (~0.2 s CPU to build, done
ahead of time while the worker is idle).

The timeline of one utterance:

    event loop   feed feed feed feed feed feed ... feed     finish() ......... -> "text"
                 |-- 100 ms batch --|-- batch --|          flush + FINISH     ^
    worker           process_raw(batch), hyp() -> PARTIAL   last batch, end_utt -> FINAL

Audio is decoded incrementally while the user speaks, so when the turn ends only the last
batch (<= `batch_seconds`) and `end_utt()` remain. The second (fwdflat) pass re-decodes
the whole utterance at `end_utt()`, so it is off by default; it costs ~70 ms per second
of speech at finish and lowered the word error rate on the spacewalk interview from
0.72 to 0.63.

The messages between the server and its workers are in `pocketsphinx_pipe.py`.

A worker that dies is restarted; a `finish()` waiting on it raises
`STTError("stt_worker_crashed")` and the stream moves to a live worker for its next
utterance.

Measured on the 2-core dev box (2 workers; espeak-ng sentences of 2-3.5 s fed in real
time as 20 ms frames; 1 and 4 concurrent streams):
- finish() latency after the last audio: p50 28-31 ms, p90 40-90 ms, whatever the
  utterance length (`second_pass=True`: p50 ~110-120 ms, growing ~70 ms per second of
  speech). Decoding a 3 s utterance only at finish would take ~0.6 s.
- decode cost: 0.20-0.23 s CPU per second of audio (0.25-0.27 with the second pass),
  so one core keeps up with ~4 people talking at once.
- event loop while streams decode: a 5 ms timer wakes late by 0.2 ms (p50), 3-4 ms
  (p99) -- as on an idle machine. Rare 50-100 ms outliers appear with any CPU-bound
  process on this VM (a `while True: pass` next door does the same), not from decoding.
- feed(): p50 15-30 us, p99 < 0.2 ms per 20 ms frame.
- pool start (2 workers, in parallel): ~0.5-0.7 s; memory ~110 MB per worker plus
  ~20-40 MB per open stream.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import sys
from collections import deque
from dataclasses import asdict, dataclass, field

from parley.providers.stt import pocketsphinx_pipe as pipe
from parley.providers.stt.base import (
    SAMPLE_RATE,
    PartialCallback,
    STTError,
    supports_language,
)
from parley.providers.stt.pocketsphinx_stream import PocketsphinxStream
from parley.providers.stt.pocketsphinx_worker import DecoderOptions

__all__ = ["PocketsphinxSTT", "PocketsphinxStream"]

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- server side


@dataclass(eq=False)
class _Worker:
    """One worker process, seen from the server."""

    index: int
    proc: asyncio.subprocess.Process
    ready: asyncio.Future[None]
    streams: dict[int, PocketsphinxStream] = field(default_factory=dict)
    stderr_tail: deque[str] = field(default_factory=lambda: deque(maxlen=20))
    dead: bool = False
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    behind: bool = False  # warned that audio is piling up

    @property
    def pid(self) -> int:
        return self.proc.pid

    def send(self, op: int, sid: int, utterance: int, payload: bytes = b"") -> None:
        stdin = self.proc.stdin
        if self.dead or stdin is None or stdin.is_closing():
            return  # the reader task reports the exit to the streams
        stdin.write(pipe.encode(op, sid, utterance, payload))
        backlog = stdin.transport.get_write_buffer_size()  # beyond the 64 KB pipe
        if backlog > pipe.BACKLOG_WARN_BYTES and not self.behind:
            log.warning(
                "pocketsphinx worker %d is %.0f s of audio behind: the machine is short of "
                "CPU for this many conversations (add cores, or use another STT provider)",
                self.pid,
                backlog / (2 * SAMPLE_RATE),
            )
        self.behind = backlog > pipe.BACKLOG_WARN_BYTES


class PocketsphinxSTT:
    """The pocketsphinx provider: a pool of decoder worker processes.

    Bound to the event loop it first runs in. `workers` defaults to the number of cores.
    """

    name = "pocketsphinx"
    languages: frozenset[str] | None = frozenset({"en"})

    def __init__(
        self,
        workers: int | None = None,
        *,
        batch_seconds: float = 0.1,
        second_pass: bool = False,
        hmm: str | None = None,
        lm: str | None = None,
        dictionary: str | None = None,
        spare_decoders: int = 1,
        start_timeout: float = 60.0,
        finish_timeout: float = 15.0,
        python: str = sys.executable,
    ) -> None:
        self.size = max(1, workers or os.cpu_count() or 1)
        self.batch_bytes = max(2, int(batch_seconds * SAMPLE_RATE) * 2)
        self.finish_timeout = finish_timeout
        self.start_timeout = start_timeout
        self._options = DecoderOptions(hmm, lm, dictionary, second_pass, spare_decoders)
        self._python = python
        self._workers: list[_Worker | None] = [None] * self.size
        self._failures = [0] * self.size  # consecutive start failures, for back-off
        self._respawns: set[asyncio.Task[None]] = set()
        self._start_lock = asyncio.Lock()
        self._started = False
        self._closing = False
        self._sids = itertools.count(1)
        self._rr = itertools.count()

    def supports(self, language: str) -> bool:
        return supports_language(self.languages, language)

    def worker_pids(self) -> list[int]:
        return [w.pid for w in self._workers if w is not None and not w.dead]

    async def start(self) -> None:
        """Start the workers and wait until they are ready. Idempotent."""
        async with self._start_lock:
            if self._closing:
                raise STTError("stt_closed", "the pocketsphinx provider is closed")
            if self._started:
                return
            for i in range(self.size):
                self._workers[i] = await self._spawn(i)
            self._started = True
        await asyncio.gather(*(self._wait_ready(w) for w in self._workers if w is not None))

    async def open(
        self, language: str = "en", on_partial: PartialCallback | None = None
    ) -> PocketsphinxStream:
        if not self.supports(language):
            raise STTError(
                "stt_unsupported_language",
                f"pocketsphinx recognises English only, not {language!r}; "
                "choose PARLEY_STT=whisper or an OpenAI-compatible server for other languages",
            )
        await self.start()
        stream = PocketsphinxStream(self, next(self._sids), on_partial)
        worker = stream._attach()
        try:
            if worker is None:
                raise STTError("stt_unavailable", "no pocketsphinx worker is running")
            await self._wait_ready(worker)
        except BaseException:
            await stream.close()
            raise
        return stream

    async def close(self) -> None:
        self._closing = True
        for task in list(self._respawns):
            task.cancel()
        workers = [w for w in self._workers if w is not None]
        for w in workers:
            if w.proc.stdin is not None:
                w.proc.stdin.close()  # EOF: the worker exits on its own
        for w in workers:
            try:
                await asyncio.wait_for(w.proc.wait(), 3.0)
            except TimeoutError:
                w.proc.kill()
            await asyncio.gather(*w.tasks, return_exceptions=True)
        self._workers = [None] * self.size

    # -- pool internals

    async def _spawn(self, index: int) -> _Worker:
        options = json.dumps(asdict(self._options))
        proc = await asyncio.create_subprocess_exec(
            self._python,
            "-m",
            "parley.providers.stt.pocketsphinx_worker",
            options,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # Ctrl-C reaches the server, which closes us cleanly
        )
        loop = asyncio.get_running_loop()
        worker = _Worker(index, proc, loop.create_future())
        worker.tasks.append(loop.create_task(self._read_messages(worker)))
        worker.tasks.append(loop.create_task(self._read_stderr(worker)))
        log.info("pocketsphinx worker %d started (pid %d)", index, proc.pid)
        return worker

    async def _wait_ready(self, worker: _Worker) -> None:
        try:
            await asyncio.wait_for(asyncio.shield(worker.ready), self.start_timeout)
        except TimeoutError:
            raise STTError(
                "stt_unavailable",
                f"pocketsphinx worker (pid {worker.pid}) not ready after {self.start_timeout} s",
            ) from None

    def _pick(self) -> _Worker | None:
        """The live worker with the fewest streams; round-robin among equals."""
        live = [w for w in self._workers if w is not None and not w.dead]
        if not live:
            return None
        turn = next(self._rr)
        return min(live, key=lambda w: (len(w.streams), (w.index - turn) % self.size))

    async def _read_messages(self, worker: _Worker) -> None:
        stdout = worker.proc.stdout
        assert stdout is not None
        async for msg in pipe.read_messages(stdout):
            self._dispatch(worker, msg)
        status = await worker.proc.wait()
        self._on_exit(worker, status)

    async def _read_stderr(self, worker: _Worker) -> None:
        stderr = worker.proc.stderr
        assert stderr is not None
        rest = b""
        while chunk := await stderr.read(65536):  # chunks, not lines: no line-length limit
            *lines, rest = (rest + chunk).split(b"\n")
            for raw in lines:
                line = raw.decode(errors="replace").rstrip()[:1000]
                if line:
                    worker.stderr_tail.append(line)
                    log.warning("pocketsphinx worker %d: %s", worker.pid, line)
        if rest.strip():
            worker.stderr_tail.append(rest.decode(errors="replace").strip()[:1000])

    def _dispatch(self, worker: _Worker, msg: pipe.Message) -> None:
        op, utt = msg.op, msg.utterance
        if op == pipe.READY:
            self._failures[worker.index] = 0
            if not worker.ready.done():
                worker.ready.set_result(None)
            return
        stream = worker.streams.get(msg.sid)
        if stream is None:
            return
        text = msg.payload.decode(errors="replace")
        if op == pipe.PARTIAL:
            stream._on_partial(utt, text)
        elif op == pipe.FINAL:
            stream._on_final(utt, text)
        elif op == pipe.ERROR:
            stream._on_error(utt, STTError("stt_decode_failed", f"pocketsphinx: {text}"))

    def _on_exit(self, worker: _Worker, status: int) -> None:
        worker.dead = True
        tail = "; ".join(list(worker.stderr_tail)[-3:])
        detail = f" ({tail})" if tail else ""
        if not worker.ready.done():
            worker.ready.set_exception(
                STTError(
                    "stt_unavailable",
                    f"pocketsphinx worker failed to start, exit status {status}{detail}",
                )
            )
            worker.ready.exception()  # retrieved: waiters still get it
            self._failures[worker.index] += 1
        if self._closing:
            error = STTError("stt_closed", "the pocketsphinx provider was closed")
        else:
            log.error("pocketsphinx worker %d exited with status %s%s", worker.pid, status, detail)
            error = STTError(
                "stt_worker_crashed",
                f"pocketsphinx worker (pid {worker.pid}) exited with status {status}{detail}; "
                "the utterance in progress was lost",
            )
        for stream in list(worker.streams.values()):
            stream._on_worker_lost(error)
        worker.streams.clear()
        if not self._closing and self._workers[worker.index] is worker:
            delay = pipe.restart_delay(self._failures[worker.index])
            task = asyncio.get_running_loop().create_task(self._respawn(worker.index, delay))
            self._respawns.add(task)
            task.add_done_callback(self._respawns.discard)

    async def _respawn(self, index: int, delay: float) -> None:
        await asyncio.sleep(delay)
        if self._closing:
            return
        try:
            worker = await self._spawn(index)
            if self._closing and worker.proc.stdin is not None:
                worker.proc.stdin.close()  # closed while it started: let it exit
            self._workers[index] = worker
        except OSError as exc:
            log.error("cannot restart pocketsphinx worker %d: %s", index, exc)
            self._failures[index] += 1
            await self._respawn(index, pipe.restart_delay(self._failures[index]))
