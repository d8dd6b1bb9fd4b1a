"""Automatic answers to `tool_call`s: a registered function's result (or exception) is
sent as the `tool_result`; a call for a name without a function is left to the
application's `tool_call` handler or iterator, and with neither answered with an error at
once instead of letting the server time out.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from parley.client._hub import EventHub
from parley.client.errors import ParleyError
from parley.client.events import ErrorEvent, ToolCall
from parley.client.tools import ToolFunction, ToolRegistry, run_tool

SendResult = Callable[[str, Any, str | None], Awaitable[None]]


class ToolAnswers:
    def __init__(self, hub: EventHub, send_result: SendResult) -> None:
        self.registry = ToolRegistry()
        self.iterating = False  # the application reads events with `async for`
        self._hub = hub
        self._send_result = send_result
        self._tasks: set[asyncio.Task[Any]] = set()

    def answer(self, call: ToolCall) -> None:
        """Start answering `call` (if it is ours to answer); returns at once."""
        fn = self.registry.get(call.name)
        if fn is None:
            if self._hub.has_handler("tool_call") or self.iterating:
                return  # the application answers it
            why = f"no function for the tool {call.name!r} is registered in the client"
            self._spawn(self._quiet_result(call.call_id, None, why))
            return
        self._spawn(self._run(fn, call))

    def cancel(self) -> None:
        """The stream is over: stop the calls still running (but not the caller's own)."""
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()

    async def _run(self, fn: ToolFunction, call: ToolCall) -> None:
        result, error, exc = await run_tool(fn, call)
        if error is not None:
            message = f"tool {call.name!r} (call {call.call_id}) failed: {error}"
            await self._hub.emit(
                ErrorEvent(code="tool_error", message=message, client_side=True, exception=exc)
            )
        await self._quiet_result(call.call_id, result, error)

    async def _quiet_result(self, call_id: str, result: Any, error: str | None) -> None:
        with contextlib.suppress(ParleyError):
            await self._send_result(call_id, result, error)

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
