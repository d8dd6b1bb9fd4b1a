"""A private event loop on a daemon thread: how the sync twins run the async stream.

The sync `Stream` is the async one driven from another thread, so both share every line
of connection, reconnection and delivery logic. Handlers run on this thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger("parley.client")

IN_HANDLER = (
    "this call blocks, and it was made on the stream's own thread (from a handler or a "
    "tool): it would wait forever. Call it from another thread, or use the non-blocking "
    "methods (send_*, inject_*, update_*, keep_alive) there."
)


class LoopEnded(RuntimeError):
    """The loop was stopped (the stream was closed)."""


class LoopThread:
    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()  # set once to end the loop; later sets are harmless
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._stop.wait())
        finally:
            pending = asyncio.all_tasks(self.loop)
            for task in pending:
                task.cancel()
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            # join the worker threads of `to_thread` (sync tools, the baseline GET)
            self.loop.run_until_complete(self.loop.shutdown_default_executor())
            self.loop.close()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self.loop.is_closed()

    @property
    def in_loop_thread(self) -> bool:
        return threading.get_ident() == self._thread.ident

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run `coro` on the loop and wait for its result (re-raising its exception)."""
        if self.in_loop_thread:
            coro.close()
            raise RuntimeError(IN_HANDLER)
        try:
            if not self.alive:
                raise RuntimeError("closed")
            future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        except RuntimeError:
            coro.close()
            raise LoopEnded("the stream's loop has ended") from None
        try:
            return future.result(timeout)
        except BaseException:
            future.cancel()  # e.g. Ctrl-C while waiting: stop the work too
            raise

    def submit(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run `coro` on the loop without waiting (failures are logged)."""
        try:
            future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        except RuntimeError:  # the loop is closed
            coro.close()
            return
        future.add_done_callback(_log_failure)

    def stop(self) -> None:
        """End the loop (pending work is cancelled) and, off the loop thread, wait for it."""
        if self.in_loop_thread:
            self._stop.set()
            return
        with contextlib.suppress(RuntimeError):  # already closed
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


def _log_failure(future: Future[Any]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.warning("a background stream call failed: %s", future.exception())
