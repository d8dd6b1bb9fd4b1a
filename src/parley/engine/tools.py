"""Running the tool calls of one LLM round (client-side and server-side), concurrently.

    LLM round ─▶ calls ─┬─ client tool: `tool_call` event ─▶ … `tool_result` message ─┐
                        └─ server tool: HTTP request to its endpoint ──────────────────┤
                  hold_after_s without every result: a hold line is spoken          ▼
                  timeout_s: the call fails ("timed out")          outcomes, in call order

A call never hangs: it ends with a result, an error, a timeout, or the client going
away. Results that arrive for a call not waiting (unknown, finished, or cancelled by a
barge-in) are refused by `ToolCalls.resolve` and dropped.

Server-side calls go through `parley.net.outbound` (no loopback, private or metadata
addresses unless PARLEY_WEBHOOK_ALLOW lists them; the answer capped), at most
`webhook_session_concurrency` at a time per session and `webhook_concurrency` per
process, and at most `max_tool_calls_per_round` calls per LLM round.
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

from parley.net.outbound import OutboundError, OutboundPolicy
from parley.net.secrets import SecretBox, SecretError
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


@dataclass(frozen=True)
class WebhookLimits:
    max_bytes: int = 1024 * 1024
    concurrency: int = 64
    session_concurrency: int = 4
    max_calls_per_round: int = 16

    @classmethod
    def from_settings(cls, settings: Any) -> WebhookLimits:
        return cls(
            max_bytes=settings.webhook_max_bytes,
            concurrency=settings.webhook_concurrency,
            session_concurrency=settings.webhook_session_concurrency,
            max_calls_per_round=settings.max_tool_calls_per_round,
        )


class WebhookClient(httpx.AsyncClient):
    """The process's client for server-side tools: it carries the outbound policy, the
    limits, the process-wide concurrency slots and the key of the header secrets."""

    def __init__(
        self,
        policy: OutboundPolicy | None = None,
        limits: WebhookLimits | None = None,
        secrets: SecretBox | None = None,
    ) -> None:
        super().__init__(follow_redirects=False, trust_env=False)
        self.policy = policy or OutboundPolicy([])
        self.limits = limits or WebhookLimits()
        self.secrets = secrets
        self.slots = asyncio.Semaphore(self.limits.concurrency)


class ToolCalls:
    """The client-side calls a conversation is waiting for, by call id (and the
    session's share of webhook concurrency)."""

    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Future[tuple[Any, str | None]]] = {}
        self.webhook_slots: asyncio.Semaphore | None = None

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


class ToolFailed(Exception):
    pass


async def call_endpoint(
    client: httpx.AsyncClient, endpoint: dict[str, Any], arguments: Any, timeout_s: float
) -> Any:
    """Call a server-side tool: POST (or the tool's method) its JSON arguments, through
    the outbound policy of `client` (the safe default for any other client)."""
    hooks = client if isinstance(client, WebhookClient) else WebhookClient()
    method = str(endpoint.get("method", "POST")).upper()
    headers: dict[str, str] = {}
    for name, value in (endpoint.get("headers") or {}).items():
        headers[str(name)] = hooks.secrets.open(str(value)) if hooks.secrets else str(value)
    timeout = float(endpoint.get("timeout_s") or timeout_s)
    body: dict[str, Any] = {}
    if method in ("GET", "DELETE"):
        params = arguments if isinstance(arguments, dict) else {"arguments": json.dumps(arguments)}
        body["params"] = params
    else:
        body["json"] = arguments
    status, response_headers, content = await hooks.policy.fetch(
        client,
        method,
        str(endpoint["url"]),
        headers=headers,
        max_bytes=hooks.limits.max_bytes,
        timeout=timeout,
        **body,
    )
    if 300 <= status < 400:
        raise ToolFailed(f"the tool's endpoint answered HTTP {status} (redirects are not followed)")
    if status >= 400:
        raise ToolFailed(f"the tool's endpoint answered HTTP {status}")
    text = content.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


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
        self._limits = http.limits if isinstance(http, WebhookClient) else WebhookLimits()

    async def run(
        self, calls: list[ToolCall], on_hold: Callable[[], Awaitable[None]]
    ) -> list[Outcome]:
        limit = self._limits.max_calls_per_round
        tasks = [
            asyncio.ensure_future(self._one(call) if i < limit else self._refused(call, limit))
            for i, call in enumerate(calls)
        ]
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

    async def _refused(self, call: ToolCall, limit: int) -> Outcome:
        arguments, _ = _parse_arguments(call.arguments)
        return Outcome(call, arguments, error=f"at most {limit} tool calls per round are run")

    async def _webhook(self, endpoint: dict[str, Any], arguments: Any) -> Any:
        if self._pending.webhook_slots is None:
            self._pending.webhook_slots = asyncio.Semaphore(self._limits.session_concurrency)
        slots = self._http.slots if isinstance(self._http, WebhookClient) else None
        async with self._pending.webhook_slots, slots or contextlib.nullcontext():
            return await call_endpoint(self._http, endpoint, arguments, self._settings.timeout_s)

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
                    outcome.result = await self._webhook(tool.endpoint, arguments)
                else:
                    future = self._pending.expect(call.id)
                    await self._announce(call, arguments)
                    outcome.result, outcome.error = await future
        except TimeoutError:
            outcome.error = f"the tool did not answer within {self._settings.timeout_s:g} s"
        except (httpx.HTTPError, OutboundError, SecretError, ToolFailed) as exc:
            outcome.error = f"the tool failed: {exc or type(exc).__name__}"
        except Exception as exc:  # never a silent end of the reply (e.g. a bad header)
            log.exception("tool %s(%s) raised", call.name, call.id)
            outcome.error = f"the tool failed: {type(exc).__name__}"
        log.info("tool %s(%s) → %s", call.name, call.id, "error" if outcome.error else "ok")
        return outcome


async def close_quietly(client: httpx.AsyncClient) -> None:
    with contextlib.suppress(Exception):
        await client.aclose()
