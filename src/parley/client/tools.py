"""Client-side tools answered automatically: `@stream.tool("lookup_order")`.

A registered function is called with the call's arguments as keyword arguments
(`fn(**arguments)`; if the model sent something other than a JSON object, as one
positional argument). Plain functions run in a worker thread (`asyncio.to_thread`), so a
slow lookup never stalls the audio; `async def` functions run on the stream's loop. The
return value (anything JSON-serialisable) is sent as the `tool_result`; an exception is
sent as its `error` (`"KeyError: 'A42'"`) and reported as a client-side `error` event.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
from collections.abc import Callable
from typing import Any

from parley.client.events import ToolCall

ToolFunction = Callable[..., Any]


def _call_parts(fn: ToolFunction, arguments: Any) -> Callable[[], Any]:
    if isinstance(arguments, dict):
        return functools.partial(fn, **arguments)
    if arguments is None:
        return functools.partial(fn)
    return functools.partial(fn, arguments)


async def run_tool(
    fn: ToolFunction, call: ToolCall
) -> tuple[Any, str | None, BaseException | None]:
    """(result, None, None), or (None, error text, the exception) of one call."""
    bound = _call_parts(fn, call.arguments)
    try:
        if inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
            getattr(fn, "__call__", None)  # noqa: B004 - async callable objects
        ):
            result = await bound()
        else:
            result = await asyncio.to_thread(bound)
            if inspect.isawaitable(result):
                result = await result
    except Exception as exc:
        return None, f"{type(exc).__name__}: {exc}", exc
    try:
        json.dumps(result)
    except (TypeError, ValueError) as exc:
        return None, f"the result of {call.name!r} is not JSON-serialisable: {exc}", exc
    return result, None, None


class ToolRegistry:
    """Tool functions by name."""

    def __init__(self) -> None:
        self._tools: dict[str, ToolFunction] = {}

    def register(self, name: str, fn: ToolFunction) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError("a tool needs a non-empty name")
        if not callable(fn):
            raise TypeError(f"the tool {name!r} must be callable, got {fn!r}")
        self._tools[name] = fn

    def get(self, name: str) -> ToolFunction | None:
        return self._tools.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def names(self) -> list[str]:
        return sorted(self._tools)


def decorator(registry: ToolRegistry, name: str) -> Callable[[ToolFunction], ToolFunction]:
    def register(fn: ToolFunction) -> ToolFunction:
        registry.register(name, fn)
        return fn

    return register
