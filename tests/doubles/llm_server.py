"""An OpenAI-compatible Chat Completions server double, over real HTTP on 127.0.0.1.

It speaks the real protocol (SSE `chat.completion.chunk`s, `data: [DONE]`, OpenAI's error
bodies, streamed tool calls) so clients are tested exactly as they talk to a real server.
It runs uvicorn in a background thread, so it serves sync and async tests alike.

Each chat request is answered by a `Script`: queued scripts first (`server.queue(...)`),
then `server.responder(request)`, which by default echoes the last user message::

    from tests.doubles.llm_server import LLMServer, Script, delay, error, stall, text, tool_call

    with LLMServer() as server:                     # or the `llm_server` pytest fixture
        server.queue(
            Script(tool_call("get_weather", {"city": "Paris"}, id="call_1")),
            Script(delay(0.05), text("It is sunny. ", "Enjoy!")),
        )
        server.responder = lambda req: Script(text(f"{len(req.messages)} messages."))
        ... point a client at server.base_url ...
        assert server.chat_requests[0].body["tools"][0]["function"]["name"] == "get_weather"
        assert server.chat_requests[-1].wait_closed(1.0)   # did the client hang up?

Steps: `text(...)` content chunks, `tool_call(...)` one (more → parallel calls) with
arguments split across chunks, `delay(s)` a pause, `error(status, msg)` an HTTP error (or,
once chunks went out, an in-stream error event), `stall()` headers, then silence until the
client disconnects. `first_token_delay` and `chunk_delay` pace every response.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.doubles.threaded import ThreadedServer

# --- the script API ----------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    pieces: tuple[str, ...]


@dataclass(frozen=True)
class ToolCallStep:
    name: str
    arguments: str
    id: str
    pieces: int


@dataclass(frozen=True)
class Delay:
    seconds: float


@dataclass(frozen=True)
class Error:
    status: int
    message: str
    type: str
    code: str | None


@dataclass(frozen=True)
class Stall:
    pass


Step = Text | ToolCallStep | Delay | Error | Stall


def text(*pieces: str) -> Text:
    """Reply text. One string is sent a word per chunk; several are sent as given."""
    if len(pieces) == 1:
        pieces = tuple(re.findall(r"\S+\s*|\s+", pieces[0]))
    return Text(tuple(pieces))


def tool_call(
    name: str, arguments: dict[str, Any] | str, *, id: str | None = None, pieces: int = 3
) -> ToolCallStep:
    """A tool call; its JSON arguments are streamed in `pieces` fragments."""
    args = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return ToolCallStep(name, args, id or f"call_{uuid.uuid4().hex[:24]}", max(1, pieces))


def delay(seconds: float) -> Delay:
    return Delay(seconds)


def error(status: int, message: str, *, type: str | None = None, code: str | None = None) -> Error:
    default_type = "server_error" if status >= 500 else "invalid_request_error"
    return Error(status, message, type or default_type, code)


def stall() -> Stall:
    return Stall()


class Script:
    """The steps of one response. `finish_reason` defaults to "tool_calls" when the script
    calls a tool, else "stop"."""

    def __init__(self, *steps: Step, finish_reason: str | None = None) -> None:
        self.steps = steps
        has_calls = any(isinstance(s, ToolCallStep) for s in steps)
        self.finish_reason = finish_reason or ("tool_calls" if has_calls else "stop")


@dataclass
class ChatRequest:
    """What the responder sees: the request body, with the usual fields pulled out."""

    model: str
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None
    stream: bool
    body: dict[str, Any]

    @property
    def last_user_text(self) -> str | None:
        for m in reversed(self.messages):
            if m.get("role") == "user" and isinstance(m.get("content"), str):
                return str(m["content"])
        return None


Responder = Callable[[ChatRequest], Script]


def echo_responder(request: ChatRequest) -> Script:
    """Two sentences built from the last user message, so tests can see the context used."""
    said = (request.last_user_text or "").strip().rstrip(".!?")
    if not said:
        return Script(text("Hello. How can I help?"))
    return Script(text(f"You said: {said}. What else?"))


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any  # the decoded JSON body (None when empty)
    completed: bool = False  # the whole response was sent
    _closed: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def closed_by_client(self) -> bool:
        """The client hung up before the response was complete."""
        return self._closed.is_set()

    def wait_closed(self, timeout: float = 2.0) -> bool:
        return self._closed.wait(timeout)

    async def wait_closed_async(self, within: float = 2.0) -> bool:
        """`wait_closed` without blocking the event loop."""
        return await asyncio.to_thread(self._closed.wait, within)


# --- the server ----------------------------------------------------------------------


class LLMServer(ThreadedServer):
    """The double; `start()`/`stop()`, or use it as a (sync or async) context manager."""

    thread_name = "llm-server-double"
    graceful_shutdown_s = 2
    force_exit_on_stop = False

    def __init__(
        self,
        responder: Responder = echo_responder,
        *,
        models: tuple[str, ...] = ("test-model",),
        first_token_delay: float = 0.0,
        chunk_delay: float = 0.0,
    ) -> None:
        super().__init__()
        self.responder = responder
        self.models = models
        self.first_token_delay = first_token_delay  # before the first byte of every reply
        self.chunk_delay = chunk_delay  # between streamed chunks
        self.requests: list[RecordedRequest] = []
        self._queued: deque[Script] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._shutdown: asyncio.Event | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def reset(self) -> None:
        """Back to the default behaviour (echo, no delays, nothing queued) between tests."""
        self.responder = echo_responder
        self.first_token_delay = 0.0
        self.chunk_delay = 0.0
        self._queued.clear()

    def queue(self, *scripts: Script) -> None:
        """Answer the next chat requests with these scripts, in order, then the responder."""
        self._queued.extend(scripts)

    def asgi_app(self) -> Any:
        return self._app

    async def on_serving(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._shutdown = asyncio.Event()

    def before_stop(self) -> None:
        # Ends any response still in flight (streams wait on this event).
        if self._loop is not None and self._shutdown is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                self._loop.call_soon_threadsafe(self._shutdown.set)

    # --- ASGI --------------------------------------------------------------------

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        record = RecordedRequest(scope["method"], scope["path"], headers, body)
        self.requests.append(record)
        out = _Response(send)
        if scope["method"] == "GET" and scope["path"] == "/v1/models":
            await out.json(200, _models_body(self.models))
        elif scope["method"] == "POST" and scope["path"] == "/v1/chat/completions":
            await self._chat(record, out, receive)
        else:
            await out.json(404, _error_body(error(404, f"no route {scope['path']}")))
        record.completed = out.finished

    async def _chat(self, record: RecordedRequest, out: _Response, receive: Any) -> None:
        body = record.body if isinstance(record.body, dict) else {}
        request = ChatRequest(
            model=str(body.get("model", "")),
            messages=list(body.get("messages") or []),
            tools=body.get("tools"),
            stream=bool(body.get("stream")),
            body=body,
        )
        try:
            script = self._queued.popleft() if self._queued else self.responder(request)
        except Exception as e:  # a broken responder shows up as a 500 naming it
            script = Script(error(500, f"responder raised {e!r}"))
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        player = _Player(self, request, out, include_usage)
        assert self._shutdown is not None
        run = asyncio.create_task(player.play(script))
        hangup = asyncio.create_task(_wait_disconnect(receive))
        shutdown = asyncio.create_task(self._shutdown.wait())
        done, _ = await asyncio.wait({run, hangup, shutdown}, return_when=asyncio.FIRST_COMPLETED)
        for task in (run, hangup, shutdown):
            task.cancel()
        if run in done:
            run.result()
        elif hangup in done and not out.finished:
            record._closed.set()
        elif shutdown in done and out.started and not out.finished:
            await out.end()


async def _wait_disconnect(receive: Any) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class _Response:
    """The raw ASGI response, remembering how far it got."""

    def __init__(self, send: Any) -> None:
        self._send = send
        self.started = False
        self.finished = False

    async def start(self, status: int, content_type: str) -> None:
        headers = [(b"content-type", content_type.encode())]
        if content_type.startswith("text/event-stream"):
            headers.append((b"cache-control", b"no-cache"))
        await self._send({"type": "http.response.start", "status": status, "headers": headers})
        self.started = True

    async def write(self, data: bytes) -> None:
        await self._send({"type": "http.response.body", "body": data, "more_body": True})

    async def end(self, data: bytes = b"") -> None:
        self.finished = True
        await self._send({"type": "http.response.body", "body": data, "more_body": False})

    async def json(self, status: int, obj: Any) -> None:
        await self.start(status, "application/json")
        await self.end(_dumps(obj))


class _Player:
    """Plays a script as a streamed or a plain chat completion."""

    def __init__(
        self, server: LLMServer, request: ChatRequest, out: _Response, include_usage: bool
    ) -> None:
        self.server = server
        self.request = request
        self.out = out
        self.include_usage = include_usage
        self.id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        self.created = int(time.time())
        self.role_sent = False
        self.chunks_sent = 0
        self.content: list[str] = []
        self.calls: list[ToolCallStep] = []

    async def play(self, script: Script) -> None:
        if self.server.first_token_delay:
            await asyncio.sleep(self.server.first_token_delay)
        for step in script.steps:
            if isinstance(step, Delay):
                await asyncio.sleep(step.seconds)
            elif isinstance(step, Error):
                await self._error(step)
                return
            elif isinstance(step, Stall):
                if self.request.stream and not self.out.started:
                    await self.out.start(200, "text/event-stream; charset=utf-8")
                await asyncio.Event().wait()  # until the client hangs up
            elif isinstance(step, Text):
                await self._text(step)
            else:
                await self._tool_call(step)
        if self.request.stream:
            if not self.role_sent:
                await self._chunk({"role": "assistant", "content": ""})
            await self._chunk({}, finish_reason=script.finish_reason)
            if self.include_usage:
                await self._send_chunk(
                    {**self._chunk_base(), "choices": [], "usage": self._usage()}
                )
            await self.out.end(b"data: [DONE]\n\n")
        else:
            await self.out.json(200, self._completion(script.finish_reason))

    async def _error(self, step: Error) -> None:
        if not self.out.started:
            await self.out.json(step.status, _error_body(step))
        else:  # mid-stream, OpenAI sends an error event and ends the stream
            await self.out.end(b"data: " + _dumps(_error_body(step)) + b"\n\n")

    async def _text(self, step: Text) -> None:
        for piece in step.pieces:
            self.content.append(piece)
            if self.request.stream:
                if not self.role_sent:
                    await self._chunk({"role": "assistant", "content": "", "refusal": None})
                await self._chunk({"content": piece})

    async def _tool_call(self, step: ToolCallStep) -> None:
        index = len(self.calls)
        self.calls.append(step)
        if not self.request.stream:
            return
        head: dict[str, Any] = {} if self.role_sent else {"role": "assistant", "content": None}
        first = {"index": index, "id": step.id, "type": "function"}
        await self._chunk(
            {**head, "tool_calls": [{**first, "function": {"name": step.name, "arguments": ""}}]}
        )
        size = -(-len(step.arguments) // step.pieces) or 1
        for i in range(0, len(step.arguments), size):
            fragment = step.arguments[i : i + size]
            await self._chunk(
                {"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}
            )

    def _chunk_base(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.request.model,
            "system_fingerprint": "fp_parley_double",
        }

    async def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> None:
        self.role_sent = True
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        chunk: dict[str, Any] = {**self._chunk_base(), "choices": [choice]}
        if self.include_usage:
            chunk["usage"] = None
        await self._send_chunk(chunk)

    async def _send_chunk(self, chunk: dict[str, Any]) -> None:
        if not self.out.started:
            await self.out.start(200, "text/event-stream; charset=utf-8")
        elif self.chunks_sent and self.server.chunk_delay:
            await asyncio.sleep(self.server.chunk_delay)
        self.chunks_sent += 1
        await self.out.write(b"data: " + _dumps(chunk) + b"\n\n")

    def _usage(self) -> dict[str, int]:
        prompt = sum(len(str(m.get("content") or "").split()) for m in self.request.messages)
        completion = len("".join(self.content).split()) + sum(
            len(c.arguments.split()) for c in self.calls
        )
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }

    def _completion(self, finish_reason: str) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": "".join(self.content) if self.content else None,
            "refusal": None,
        }
        if self.calls:
            message["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                }
                for c in self.calls
            ]
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.request.model,
            "system_fingerprint": "fp_parley_double",
            "choices": [choice],
            "usage": self._usage(),
        }


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _error_body(step: Error) -> dict[str, Any]:
    return {"error": {"message": step.message, "type": step.type, "param": None, "code": step.code}}


def _models_body(models: tuple[str, ...]) -> dict[str, Any]:
    data = [{"id": m, "object": "model", "created": 0, "owned_by": "parley-tests"} for m in models]
    return {"object": "list", "data": data}
