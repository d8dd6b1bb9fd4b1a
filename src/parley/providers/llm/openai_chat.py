"""Any OpenAI-compatible Chat Completions server (OpenAI, Ollama, vLLM, llama.cpp, LM Studio…).

Streams through the official `openai` client. The waits are bounded so a reply task
can never hang on the server::

    create() ──── first chunk ── chunk ── chunk ─ … ── [DONE]
    |<- first_token_timeout_s ->|<-stall->|
    |<------------------------ timeout_s ------------------------>|

Missing any of these deadlines raises `LLMError("llm_timeout")`; the HTTP stream is
closed on every exit (end, error, timeout, cancellation).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field

import openai
from openai import AsyncOpenAI
from openai.types.chat import (
    ChatCompletionAssistantMessageParam,
    ChatCompletionChunk,
    ChatCompletionMessageParam,
    ChatCompletionSystemMessageParam,
    ChatCompletionToolParam,
    ChatCompletionUserMessageParam,
)
from openai.types.chat.chat_completion_chunk import ChoiceDeltaToolCall

from parley.providers.llm.base import (
    LLM_ERROR,
    LLM_NOT_CONFIGURED,
    LLM_TIMEOUT,
    LLM_UNAVAILABLE,
    ChatMessage,
    Finished,
    LLMError,
    LLMEvent,
    LLMProvider,
    TextDelta,
    ToolCall,
    ToolCallsReady,
    ToolSpec,
    Usage,
)

log = logging.getLogger(__name__)

NOT_CONFIGURED_MESSAGE = (
    "No LLM is configured: set PARLEY_LLM_BASE_URL (and PARLEY_LLM_MODEL, PARLEY_LLM_API_KEY) "
    "to any OpenAI-compatible server, e.g. http://127.0.0.1:11434/v1 for Ollama"
)
# Sent when no key is set: most local servers want no key, and the client needs one.
# We never fall back to OPENAI_API_KEY, which would send that key to whatever server
# PARLEY_LLM_BASE_URL names.
NO_API_KEY = "no-key"


class UnconfiguredLLM:
    """Stands in when no LLM is configured: every reply fails at once, saying so."""

    def __init__(self, message: str = NOT_CONFIGURED_MESSAGE) -> None:
        self.message = message

    async def stream(
        self, messages: list[ChatMessage], tools: list[ToolSpec] | None = None
    ) -> AsyncGenerator[LLMEvent, None]:
        raise LLMError(LLM_NOT_CONFIGURED, self.message)
        yield  # pragma: no cover  (makes this an async generator)

    async def aclose(self) -> None:
        return None


def llm_from_settings(
    base_url: str | None,
    model: str | None,
    api_key: str | None,
    first_token_timeout_s: float = 15.0,
) -> LLMProvider:
    """The configured LLM, or an `UnconfiguredLLM` when no base URL is set."""
    if not base_url:
        return UnconfiguredLLM()
    return OpenAIChatLLM(base_url, model, api_key, first_token_timeout_s=first_token_timeout_s)


class OpenAIChatLLM:
    """Chat Completions with streaming and tools, over one pooled `AsyncOpenAI` client.

    `model` may be None: the first reply then asks the server `GET /models` once and
    uses the first model it lists (logged). That suits single-model servers (llama.cpp,
    vLLM, LM Studio with one model loaded); on Ollama, set PARLEY_LLM_MODEL.

    The client never retries (`max_retries=0`); the engine decides on retries, helped by
    `LLMError.retryable`.
    """

    def __init__(
        self,
        base_url: str,
        model: str | None,
        api_key: str | None = None,
        *,
        timeout_s: float = 60.0,
        first_token_timeout_s: float = 15.0,
        stall_timeout_s: float = 10.0,
        include_usage: bool = True,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model or None
        self.timeout_s = timeout_s
        self.first_token_timeout_s = first_token_timeout_s
        self.stall_timeout_s = stall_timeout_s
        self.include_usage = include_usage
        self._model_lock = asyncio.Lock()
        self._client = AsyncOpenAI(
            base_url=self.base_url,
            api_key=api_key or NO_API_KEY,
            max_retries=0,
            timeout=timeout_s,
        )

    async def aclose(self) -> None:
        await self._client.close()

    async def resolve_model(self) -> str:
        """The model to ask for: the configured one, else the first the server lists."""
        async with self._model_lock:
            if self.model is None:
                try:
                    async with asyncio.timeout(self.first_token_timeout_s):
                        page = await self._client.models.list()
                except TimeoutError:
                    raise self._timeout("listing models (GET /models)") from None
                except openai.APIError as e:
                    raise self._translate(e) from e
                if not page.data:
                    raise LLMError(
                        LLM_NOT_CONFIGURED,
                        f"PARLEY_LLM_MODEL is not set and the LLM server at {self.base_url} "
                        "lists no models: set PARLEY_LLM_MODEL",
                    )
                self.model = page.data[0].id
                log.info(
                    "llm model not configured; using %r, the first the server lists", self.model
                )
            return self.model

    async def stream(
        self, messages: list[ChatMessage], tools: list[ToolSpec] | None = None
    ) -> AsyncGenerator[LLMEvent, None]:
        model = await self.resolve_model()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        response: openai.AsyncStream[ChatCompletionChunk] | None = None
        calls = _ToolCallAssembler()
        finish_reason: str | None = None
        usage: Usage | None = None
        first_wait = min(self.first_token_timeout_s, self.timeout_s)
        try:
            try:
                async with asyncio.timeout(first_wait):
                    response = await self._client.chat.completions.create(
                        model=model,
                        messages=[to_openai_message(m) for m in messages],
                        tools=[to_openai_tool(t) for t in tools] if tools else openai.omit,
                        stream=True,
                        stream_options={"include_usage": True}
                        if self.include_usage
                        else openai.omit,
                    )
                    chunk = await anext(response, None)
            except TimeoutError:
                raise self._timeout(f"no reply within {first_wait:g} s") from None
            while chunk is not None:
                if chunk.usage is not None:  # lenient parsing: absent fields are None
                    u = chunk.usage
                    usage = Usage(
                        u.prompt_tokens or 0, u.completion_tokens or 0, u.total_tokens or 0
                    )
                for choice in chunk.choices or []:
                    if choice.index not in (0, None):  # we never ask for n > 1
                        continue
                    if choice.finish_reason is not None:
                        finish_reason = choice.finish_reason
                    calls.add(choice.delta.tool_calls or [])
                    if choice.delta.content:
                        yield TextDelta(choice.delta.content)
                wait = min(self.stall_timeout_s, deadline - loop.time())
                try:
                    async with asyncio.timeout(wait):
                        chunk = await anext(response, None)
                except TimeoutError:
                    if wait < self.stall_timeout_s:
                        raise self._timeout(f"reply took over {self.timeout_s:g} s") from None
                    raise self._timeout(f"stream stalled for {self.stall_timeout_s:g} s") from None
        except openai.APIError as e:
            raise self._translate(e) from e
        finally:
            if response is not None:
                await response.close()
        if calls:
            yield ToolCallsReady(calls.result())
        yield Finished(finish_reason, usage)

    def _timeout(self, what: str) -> LLMError:
        return LLMError(LLM_TIMEOUT, f"The LLM at {self.base_url} timed out: {what}")

    def _translate(self, e: openai.APIError) -> LLMError:
        where = f"The LLM at {self.base_url}"
        if isinstance(e, openai.APITimeoutError):
            return self._timeout(f"no answer within {self.timeout_s:g} s")
        if isinstance(e, openai.APIConnectionError):
            cause = f" ({e.__cause__})" if e.__cause__ else ""
            return LLMError(
                LLM_UNAVAILABLE,
                f"Could not reach the LLM at {self.base_url}{cause}: is it running? "
                "Check PARLEY_LLM_BASE_URL",
            )
        if isinstance(e, openai.APIStatusError):
            status = e.status_code
            detail = _error_detail(e)
            hint = ""
            if status in (401, 403):
                hint = ": check PARLEY_LLM_API_KEY"
            elif status == 404:
                hint = f": check PARLEY_LLM_MODEL ({self.model!r}) and PARLEY_LLM_BASE_URL"
            return LLMError(
                LLM_ERROR, f"{where} answered HTTP {status}: {detail}{hint}", status=status
            )
        return LLMError(LLM_ERROR, f"{where} reported an error: {e.message}")


def _error_detail(e: openai.APIStatusError) -> str:
    body = e.body
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    if isinstance(body, str) and body:
        return body[:300]
    return e.response.reason_phrase or "no detail"


@dataclass
class _PartialCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class _ToolCallAssembler:
    """Joins streamed tool-call fragments, keyed by their `index` (OpenAI's protocol).

    Tolerates servers that send whole calls without an index, or repeat id and name on
    every fragment; invents an id when a server sends none.
    """

    def __init__(self) -> None:
        self._calls: dict[int, _PartialCall] = {}

    def __bool__(self) -> bool:
        return bool(self._calls)

    def add(self, fragments: list[ChoiceDeltaToolCall]) -> None:
        for frag in fragments:
            index = frag.index if frag.index is not None else self._index_for(frag.id)
            call = self._calls.setdefault(index, _PartialCall())
            if frag.id and not call.id:
                call.id = frag.id
            if frag.function is not None:
                if frag.function.name and not call.name:
                    call.name = frag.function.name
                if frag.function.arguments:
                    call.arguments.append(frag.function.arguments)

    def _index_for(self, call_id: str | None) -> int:
        """Where an index-less fragment goes: its call's slot by id, else a new slot
        (with an id) or the latest slot (without one)."""
        for index, call in self._calls.items():
            if call_id and call.id == call_id:
                return index
        last = max(self._calls, default=-1)
        return last + 1 if call_id or last < 0 else last

    def result(self) -> list[ToolCall]:
        return [
            ToolCall(c.id or f"call_{uuid.uuid4().hex[:24]}", c.name, "".join(c.arguments))
            for _, c in sorted(self._calls.items())
        ]


def to_openai_message(m: ChatMessage) -> ChatCompletionMessageParam:
    """Our message in the Chat Completions wire format (`name` is not sent on tool messages)."""
    if m.role == "tool":
        return {"role": "tool", "tool_call_id": m.tool_call_id or "", "content": m.content or ""}
    if m.role == "assistant":
        assistant: ChatCompletionAssistantMessageParam = {"role": "assistant"}
        assistant["content"] = m.content if m.content is not None or m.tool_calls else ""
        if m.tool_calls:
            assistant["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                }
                for c in m.tool_calls
            ]
        if m.name:
            assistant["name"] = m.name
        return assistant
    if m.role == "system":
        system: ChatCompletionSystemMessageParam = {"role": "system", "content": m.content or ""}
        if m.name:
            system["name"] = m.name
        return system
    user: ChatCompletionUserMessageParam = {"role": "user", "content": m.content or ""}
    if m.name:
        user["name"] = m.name
    return user


def to_openai_tool(t: ToolSpec) -> ChatCompletionToolParam:
    return {
        "type": "function",
        "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
    }
