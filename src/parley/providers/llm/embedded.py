"""The embedded LLM: a GGUF on llama.cpp, in this process, behind `LLMProvider`.

    stream(messages) ──submit──▶ LlamaWorker queue ──▶ Started ── text … ── Done
    |<- filler_after_s ->| Delayed (the engine says "One moment.")
    |<------ queue_wait_s ------>|<- stall_timeout_s between pieces ->|

- A reply not started within `filler_after_s` (0: never) yields `Delayed` once, and goes
  on waiting.
- A full queue, or a reply not started within `queue_wait_s`, fails at once with
  `LLMError("llm_busy")`: the session hears an error, never silence.
- Closing the generator (the reply task cancelled on barge-in, `aclosing`) sets the job's
  cancel flag; the worker stops before its next token and takes the next job.
- Text inside `<tool_call>…</tool_call>` (the Hermes/Qwen format many GGUF templates
  teach) becomes `ToolCallsReady`; everything else is spoken.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass

from parley.providers.llm.base import (
    LLM_BUSY,
    LLM_ERROR,
    LLM_TIMEOUT,
    ChatMessage,
    Delayed,
    Finished,
    LLMError,
    LLMEvent,
    TextDelta,
    ToolCallsReady,
    ToolSpec,
    Usage,
)
from parley.providers.llm.gguf import GGUFFile
from parley.providers.llm.llama_worker import (
    Done,
    Job,
    LlamaWorker,
    PromptTooLong,
    QueueFull,
    Sampling,
    Started,
    to_loop,
)
from parley.providers.llm.openai_chat import to_openai_message, to_openai_tool
from parley.providers.llm.tool_text import ToolTextSplitter

log = logging.getLogger("parley.llm")
MEASURE_PROMPT = "Count from one to thirty, in words, separated by commas."


@dataclass(frozen=True)
class Speed:
    """One measured generation: time to first token and decode speed."""

    first_token_ms: float
    tokens_per_s: float
    tokens: int


class EmbeddedLLM:
    def __init__(
        self,
        gguf: GGUFFile,
        *,
        threads: int = 1,
        context: int = 2048,
        sampling: Sampling | None = None,
        queue_depth: int = 4,
        queue_wait_s: float = 10.0,
        stall_timeout_s: float = 30.0,
        filler_after_s: float = 1.5,
    ) -> None:
        self.worker = LlamaWorker(
            gguf, threads=threads, context=context, sampling=sampling, queue_depth=queue_depth
        )
        self.gguf = gguf
        self.queue_wait_s = queue_wait_s
        self.stall_timeout_s = stall_timeout_s
        self.filler_after_s = filler_after_s
        self.speed: Speed | None = None

    def describe(self) -> str:
        w = self.worker
        speed = (
            f", {self.speed.tokens_per_s:.0f} tokens/s, first token "
            f"{self.speed.first_token_ms:.0f} ms"
            if self.speed
            else ""
        )
        return (
            f"embedded {self.gguf.name} ({self.gguf.path}, {self.gguf.size_bytes / 1e6:.0f} MB, "
            f"from {self.gguf.source}; context {w.context} of {w.context_train} tokens, "
            f"{w.threads} thread(s), replies up to {w.sampling.max_tokens} tokens, "
            f"chat template from {w.template_source}{speed})"
        )

    def measure(self, timeout_s: float = 60.0) -> Speed:
        """Generate a short reply and time it, blocking (the start-up log and doctor show
        this). Time to first token includes rendering the template and the prompt."""
        items: queue.Queue[object] = queue.Queue()
        job = Job([{"role": "user", "content": MEASURE_PROMPT}], None, items.put)
        self.worker.submit(job)
        first: float | None = None
        while True:
            item = items.get(timeout=timeout_s)
            if isinstance(item, str) and first is None:
                first = time.monotonic()
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, Done):
                break
        end = time.monotonic()
        first = first or end
        n = item.completion_tokens
        rate = (n - 1) / (end - first) if n > 1 and end > first else 0.0
        self.speed = Speed((first - job.submitted) * 1000, rate, n)
        return self.speed

    async def stream(
        self, messages: list[ChatMessage], tools: list[ToolSpec] | None = None
    ) -> AsyncGenerator[LLMEvent, None]:
        out: asyncio.Queue[object] = asyncio.Queue()
        job = Job(
            messages=[dict(to_openai_message(m)) for m in messages],
            tools=[dict(to_openai_tool(t)) for t in tools] if tools else None,
            sink=to_loop(asyncio.get_running_loop(), out),
        )
        try:
            ahead = self.worker.submit(job)
        except QueueFull as e:
            raise LLMError(
                LLM_BUSY,
                f"The embedded LLM is busy: {e.args[0]} replies are ahead and its queue is "
                f"full (PARLEY_LLM_QUEUE_DEPTH={self.worker.queue_depth}); for many "
                "concurrent sessions set PARLEY_LLM_BASE_URL to a model server",
            ) from None
        splitter = ToolTextSplitter()
        try:
            item: object = None
            waited = 0.0
            if 0 < self.filler_after_s < self.queue_wait_s:
                try:
                    async with asyncio.timeout(self.filler_after_s):
                        item = await out.get()
                except TimeoutError:
                    waited = self.filler_after_s
                    yield Delayed(waited, ahead)
            try:
                if item is None:
                    async with asyncio.timeout(self.queue_wait_s - waited):
                        item = await out.get()
            except TimeoutError:
                raise LLMError(
                    LLM_BUSY,
                    f"The embedded LLM is busy: this reply waited {self.queue_wait_s:g} s "
                    f"behind {ahead} others (PARLEY_LLM_QUEUE_WAIT_S); for many concurrent "
                    "sessions set PARLEY_LLM_BASE_URL to a model server",
                ) from None
            while True:
                if isinstance(item, PromptTooLong):
                    raise LLMError(LLM_ERROR, f"The embedded LLM cannot answer: {item}")
                if isinstance(item, BaseException):
                    raise LLMError(LLM_ERROR, f"The embedded LLM failed: {item}")
                if isinstance(item, Started) and item.dropped_messages:
                    log.info(
                        "embedded llm: %d oldest message(s) left out to fit the context",
                        item.dropped_messages,
                    )
                if isinstance(item, str):
                    text = splitter.feed(item)
                    if text:
                        yield TextDelta(text)
                if isinstance(item, Done):
                    break
                try:
                    async with asyncio.timeout(self.stall_timeout_s):
                        item = await out.get()
                except TimeoutError:
                    raise LLMError(
                        LLM_TIMEOUT,
                        f"The embedded LLM produced nothing for {self.stall_timeout_s:g} s",
                    ) from None
        finally:
            job.cancel.set()  # a no-op when done; stops the worker when we were cut off
        rest = splitter.finish()
        if rest:
            yield TextDelta(rest)
        if splitter.calls:
            yield ToolCallsReady(splitter.calls)
        reason = "tool_calls" if splitter.calls else item.finish_reason
        yield Finished(
            reason,
            Usage(
                item.prompt_tokens,
                item.completion_tokens,
                item.prompt_tokens + item.completion_tokens,
            ),
        )

    async def aclose(self) -> None:
        await asyncio.to_thread(self.worker.close)
