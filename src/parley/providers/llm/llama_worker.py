"""llama.cpp in this process, on one worker thread that owns the model.

Why a thread and not a child `llama_cpp.server`: the ctypes calls into llama.cpp
(`llama_decode`, the sampler) release the GIL, so only the per-token Python work of
llama-cpp-python (detokenising, stop-string checks) competes with the event loop. Measured
(`python -m bench.llm_bench --server`, bench/README.md), same GGUF, one thread: a 5 ms
asyncio ticker ran p50 0.36 ms / p99 9 ms late while the model generated (0.31 / 4.0 ms
idle), the child server's client 0.64 / 15 ms; in-process the model is ready in 0.4 s,
first token 223 ms, 29 tokens/s, against the child's 4.7 s, 350 ms, 20 tokens/s and a
second 358 MB process. Another session's reply audio had no audible gap meanwhile
(tests/llm). In-process there is no port, no second process to supervise, no HTTP/SSE
hop, and cancellation is a flag read after every token rather than a dropped connection
the server notices late. The price: a crash inside llama.cpp takes the server with it.

    submit(job) ─▶ [queue, ≤ depth waiting] ─▶ worker thread: render the chat template,
                                               trim oldest turns to fit, generate ──▶ job.out
    job.cancel ─────────────────────────────────────▶ checked after every sampled token

One model, one generation at a time (a 2-core machine has no spare core for a second),
on `threads` llama.cpp threads. The worker never touches asyncio objects except through
`loop.call_soon_threadsafe`.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from parley.providers.llm.gguf import GGUFError, GGUFFile

log = logging.getLogger("parley.llm")

# Used when a GGUF has no chat template in its metadata (ChatML, the most common).
CHATML_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
    "(message['content'] or '') + '<|im_end|>' + '\\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


class PromptTooLong(ValueError):
    """Even the system prompt and the last message do not fit the model's context."""


@dataclass(frozen=True)
class Sampling:
    max_tokens: int = 96
    temperature: float = 0.3
    top_p: float = 0.9
    repeat_penalty: float = 1.1


@dataclass(frozen=True)
class Started:
    """The worker took the job (it waited `waited_s` in the queue)."""

    waited_s: float
    dropped_messages: int  # oldest messages left out to fit the context


@dataclass(frozen=True)
class Done:
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int


@dataclass
class Job:
    """One reply to generate. `sink` receives Started, then str pieces, then Done (or an
    exception), called on the worker thread (`to_loop` makes one for an event loop)."""

    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None
    sink: Callable[[object], None]
    cancel: threading.Event = field(default_factory=threading.Event)
    submitted: float = field(default_factory=time.monotonic)

    def post(self, item: object) -> None:
        try:
            self.sink(item)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            self.cancel.set()


def to_loop(
    loop: asyncio.AbstractEventLoop, out: asyncio.Queue[object]
) -> Callable[[object], None]:
    """A sink that hands items to `out` on `loop`, from any thread."""

    def sink(item: object) -> None:
        loop.call_soon_threadsafe(out.put_nowait, item)

    return sink


@dataclass(frozen=True)
class JobRecord:
    """A finished generation, as the worker saw it (kept for doctor, bench and tests)."""

    started: float  # time.monotonic() when generation began
    ended: float
    tokens: int
    finish_reason: str | None


class QueueFull(RuntimeError):
    pass


class LlamaWorker:
    """Loads the GGUF (raising `GGUFError` when llama.cpp cannot) and serves jobs."""

    def __init__(
        self,
        gguf: GGUFFile,
        *,
        threads: int = 1,
        context: int = 2048,
        sampling: Sampling | None = None,
        queue_depth: int = 4,
    ) -> None:
        try:
            from llama_cpp import Llama
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter
        except ImportError as e:  # checked by the caller first; kept for a clear message
            raise GGUFError(f"llama-cpp-python is not installed ({e})") from e
        self.gguf = gguf
        self.sampling = sampling or Sampling()
        self.threads = threads
        self.queue_depth = queue_depth
        started = time.monotonic()
        try:
            # Any: typed the same whether llama-cpp-python (typed) is installed or not
            self._llama: Any = Llama(
                model_path=str(gguf.path),
                n_ctx=context,
                n_threads=threads,
                n_threads_batch=threads,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as e:
            raise GGUFError(f"llama.cpp could not load {gguf.path}: {e}") from e
        self.load_s = time.monotonic() - started
        meta: dict[str, str] = dict(self._llama.metadata)
        arch = meta.get("general.architecture", "")
        self.context_train = int(meta.get(f"{arch}.context_length", 0) or 0) or context
        self.context = min(self._llama.n_ctx(), self.context_train)
        self.model_name = meta.get("general.name") or gguf.name
        template = meta.get("tokenizer.chat_template")
        self.template_source = "GGUF metadata" if template else "ChatML (none in the GGUF)"
        eos_id = self._llama.token_eos()
        bos_id = self._llama.token_bos()
        eos = self._llama._model.token_get_text(eos_id) if eos_id != -1 else ""
        bos = self._llama._model.token_get_text(bos_id) if bos_id != -1 else ""
        self._formatter: Any = Jinja2ChatFormatter(
            template or CHATML_TEMPLATE, eos_token=eos, bos_token=bos, stop_token_ids=[eos_id]
        )
        self._stops = [s for s in {eos, "<|im_end|>", "<|eot_id|>", "<|end|>"} if s]
        self._jobs: queue.Queue[Job | None] = queue.Queue()
        self._lock = threading.Lock()
        self._waiting = 0
        self.tokens_generated = 0  # every token sampled since start (watched by tests)
        self.busy = False  # a generation is running
        self.finished: deque[JobRecord] = deque(maxlen=64)
        self._thread = threading.Thread(target=self._run, name="parley-llm", daemon=True)
        self._thread.start()

    # --- the event loop's side ----------------------------------------------------------

    @property
    def depth(self) -> int:
        """Jobs waiting or being generated."""
        return self._waiting + (1 if self.busy else 0)

    def submit(self, job: Job) -> int:
        """Queue `job`; how many jobs are ahead of it. Raises `QueueFull`."""
        with self._lock:
            ahead = self._waiting + (1 if self.busy else 0)
            if self._waiting >= self.queue_depth:
                raise QueueFull(ahead)
            self._waiting += 1
        self._jobs.put(job)
        return ahead

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self._llama.close()

    # --- the worker thread -------------------------------------------------------------

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            with self._lock:
                self._waiting -= 1
                self.busy = not job.cancel.is_set()
            if not self.busy:
                continue  # its consumer gave up while it waited
            try:
                self._generate(job)
            except PromptTooLong as e:
                job.post(e)
            except Exception as e:  # a llama.cpp failure ends this reply, not the worker
                log.exception("embedded LLM generation failed")
                job.post(e)
            finally:
                self.busy = False

    def render(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> str:
        return self._formatter(messages=messages, tools=tools).prompt

    def tokenize(self, text: str) -> list[int]:
        return list(self._llama.tokenize(text.encode(), add_bos=False, special=True))

    def fit(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None
    ) -> tuple[list[int], int]:
        """The prompt's tokens with the oldest turns dropped until it fits the context
        with room for the reply; and how many messages were dropped."""
        budget = self.context - self.sampling.max_tokens
        head = [m for m in messages[:1] if m.get("role") == "system"]
        rest = messages[len(head) :]
        dropped = 0
        while True:
            tokens = self.tokenize(self.render(head + rest, tools))
            if len(tokens) <= budget:
                return tokens, dropped
            if len(rest) <= 1:
                raise PromptTooLong(
                    f"the system prompt and the last message are {len(tokens)} tokens, more "
                    f"than the {budget} the model's context of {self.context} leaves after "
                    f"{self.sampling.max_tokens} for the reply: shorten the prompt, or raise "
                    "PARLEY_LLM_CONTEXT"
                )
            rest = rest[1:]
            dropped += 1
            while len(rest) > 1 and rest[0].get("role") in ("tool", "assistant"):
                rest = rest[1:]  # a turn starts with a user message, never a tool answer
                dropped += 1

    def _generate(self, job: Job) -> None:
        from llama_cpp import StoppingCriteriaList

        tokens, dropped = self.fit(job.messages, job.tools)
        started = time.monotonic()
        job.post(Started(started - job.submitted, dropped))
        base = self.tokens_generated
        prompt_len = len(tokens)

        def step(input_ids: Any, logits: Any) -> bool:
            # Called after every sampled token (and once more at the end).
            self.tokens_generated = base + max(0, len(input_ids) - prompt_len)
            return job.cancel.is_set()

        s = self.sampling
        stream: Any = self._llama.create_completion(
            tokens,
            max_tokens=s.max_tokens,
            temperature=s.temperature,
            top_p=s.top_p,
            repeat_penalty=s.repeat_penalty,
            stop=self._stops,
            stream=True,
            stopping_criteria=StoppingCriteriaList([step]),
        )
        finish: str | None = None
        try:
            for chunk in stream:
                choice = chunk["choices"][0]
                if choice["text"]:
                    job.post(choice["text"])
                if choice["finish_reason"]:
                    finish = choice["finish_reason"]
                if job.cancel.is_set():
                    finish = "cancelled"
                    break
        finally:
            stream.close()
            if job.cancel.is_set():
                finish = "cancelled"
            n = self.tokens_generated - base
            self.finished.append(JobRecord(started, time.monotonic(), n, finish))
        job.post(Done(finish, prompt_len, n))
