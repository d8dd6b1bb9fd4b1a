"""Running the tool calls of one LLM round (client-side and server-side), concurrently.

    LLM round ─▶ calls ─┬─ client tool: `tool_call` event ─▶ … `tool_result` message ─┐
                        └─ server tool: HTTP request to its endpoint ──────────────────┤
                  hold_after_s without every result: a hold line is spoken          ▼
                  timeout_s: the call fails ("timed out")          outcomes, in call order

A call never hangs: it ends with a result, an error, a timeout, or the client going
away. Results that arrive for a call not waiting (unknown, finished, or cancelled by a
barge-in) are refused by `ToolCalls.resolve` and dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from parley.providers.llm.base import ToolCall
from parley.store.records import ToolDef

log = logging.getLogger("parley.tools")

HOLD_LINES = {
    "en": "One moment while I look that up.",
    "es": "Un momento mientras lo consulto.",
    "fr": "Un instant, je vérifie.",
    "de": "Einen Moment, ich sehe nach.",
    "it": "Un momento, controllo subito.",
    "pt": "Um momento enquanto eu verifico.",
    "nl": "Een ogenblik, ik zoek het op.",
}


def hold_line(language: str) -> str:
    return HOLD_LINES.get(language, HOLD_LINES["en"])


@dataclass(frozen=True)
class ToolSettings:
    hold_after_s: float = 1.5
    timeout_s: float = 10.0
    max_rounds: int = 3

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> ToolSettings:
        return cls(
            hold_after_s=float(settings.get("tool_hold_ms", 1500)) / 1000,
            timeout_s=float(settings.get("tool_timeout_ms", 10000)) / 1000,
            max_rounds=int(settings.get("max_tool_rounds", 3)),
        )


@dataclass
class Outcome:
    call: ToolCall
    arguments: Any
    result: Any = None
    error: str | None = None

    def for_llm(self) -> str:
        if self.error is not None:
            return json.dumps({"error": self.error})
        return json.dumps(self.result)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "call_id": self.call.id,
            "name": self.call.name,
            "arguments": self.arguments,
        }
        if self.error is not None:
            out["error"] = self.error
        else:
            out["result"] = self.result
        return out


class ToolCalls:
    """The client-side calls a conversation is waiting for, by call id."""

    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Future[tuple[Any, str | None]]] = {}

    def expect(self, call_id: str) -> asyncio.Future[tuple[Any, str | None]]:
        future: asyncio.Future[tuple[Any, str | None]] = asyncio.get_running_loop().create_future()
        self._waiting[call_id] = future
        return future

    def forget(self, call_id: str) -> None:
        self._waiting.pop(call_id, None)

    def resolve(self, call_id: str, result: Any, error: str | None) -> bool:
        """Deliver a client's answer; False if no call with that id is waiting."""
        future = self._waiting.pop(call_id, None)
        if future is None or future.done():
            return False
        future.set_result((result, error))
        return True

    def fail_all(self, error: str) -> None:
        """The client went away: every waiting call fails now."""
        waiting, self._waiting = self._waiting, {}
        for future in waiting.values():
            if not future.done():
                future.set_result((None, error))


def _parse_arguments(raw: str) -> tuple[Any, str | None]:
    try:
        return (json.loads(raw) if raw.strip() else {}), None
    except json.JSONDecodeError as exc:
        return raw, f"the arguments were not valid JSON ({exc.msg})"


async def call_endpoint(
    client: httpx.AsyncClient, endpoint: dict[str, Any], arguments: Any, timeout_s: float
) -> Any:
    """Call a server-side tool: POST (or the tool's method) its JSON arguments."""
    method = str(endpoint.get("method", "POST")).upper()
    headers = dict(endpoint.get("headers") or {})
    timeout = float(endpoint.get("timeout_s") or timeout_s)
    if method in ("GET", "DELETE"):
        params = arguments if isinstance(arguments, dict) else {"arguments": json.dumps(arguments)}
        response = await client.request(
            method, endpoint["url"], params=params, headers=headers, timeout=timeout
        )
    else:
        response = await client.request(
            method, endpoint["url"], json=arguments, headers=headers, timeout=timeout
        )
    if response.status_code >= 400:
        raise RuntimeError(f"the tool's endpoint answered HTTP {response.status_code}")
    try:
        return response.json()
    except ValueError:
        return response.text


class ToolRunner:
    """Runs one round of calls for a conversation."""

    def __init__(
        self,
        tools: dict[str, ToolDef],
        pending: ToolCalls,
        http: httpx.AsyncClient,
        announce: Callable[[ToolCall, Any], Awaitable[None]],
        settings: ToolSettings,
    ) -> None:
        self._tools = tools
        self._pending = pending
        self._http = http
        self._announce = announce
        self._settings = settings

    async def run(
        self, calls: list[ToolCall], on_hold: Callable[[], Awaitable[None]]
    ) -> list[Outcome]:
        tasks = [asyncio.ensure_future(self._one(call)) for call in calls]
        try:
            done, _ = await asyncio.wait(tasks, timeout=self._settings.hold_after_s)
            if len(done) < len(tasks):
                await on_hold()  # the line is never silent while a slow tool runs
            return list(await asyncio.gather(*tasks))
        finally:
            for task in tasks:  # a barge-in cancels the calls of the cancelled turn
                task.cancel()
            for call in calls:
                self._pending.forget(call.id)

    async def _one(self, call: ToolCall) -> Outcome:
        arguments, problem = _parse_arguments(call.arguments)
        outcome = Outcome(call, arguments)
        tool = self._tools.get(call.name)
        if problem is not None or tool is None:
            outcome.error = problem or f"there is no tool named {call.name!r}"
            return outcome
        try:
            async with asyncio.timeout(self._settings.timeout_s):
                if tool.endpoint is not None:
                    outcome.result = await call_endpoint(
                        self._http, tool.endpoint, arguments, self._settings.timeout_s
                    )
                else:
                    future = self._pending.expect(call.id)
                    await self._announce(call, arguments)
                    outcome.result, outcome.error = await future
        except TimeoutError:
            outcome.error = f"the tool did not answer within {self._settings.timeout_s:g} s"
        except (httpx.HTTPError, RuntimeError) as exc:
            outcome.error = f"the tool failed: {exc or type(exc).__name__}"
        log.info("tool %s(%s) → %s", call.name, call.id, "error" if outcome.error else "ok")
        return outcome


async def close_quietly(client: httpx.AsyncClient) -> None:
    with contextlib.suppress(Exception):
        await client.aclose()
