"""The OpenAI-compatible LLM provider, against the server double over real HTTP."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any, cast

import openai
import pytest
from openai.types.chat.chat_completion_chunk import (
    ChoiceDeltaToolCall,
    ChoiceDeltaToolCallFunction,
)

from parley.providers.llm.base import (
    ChatMessage,
    Finished,
    LLMError,
    LLMEvent,
    TextDelta,
    ToolCall,
    ToolCallsReady,
    ToolSpec,
)
from parley.providers.llm.openai_chat import (
    OpenAIChatLLM,
    UnconfiguredLLM,
    _ToolCallAssembler,
    llm_from_settings,
)
from tests.doubles.fixtures import llm_server  # noqa: F401  (the fixture)
from tests.doubles.llm_server import LLMServer, Script, delay, error, stall, text, tool_call

TIMEOUT = 1.0  # first-token and stall timeouts: small, so failures are fast (a first
# request on a loaded 2-core machine can take over 0.3 s)
USER = [ChatMessage("user", "hello there")]


@pytest.fixture
async def llm(llm_server: LLMServer) -> AsyncIterator[OpenAIChatLLM]:  # noqa: F811
    provider = OpenAIChatLLM(
        llm_server.base_url,
        "test-model",
        "sk-test",
        timeout_s=5,
        first_token_timeout_s=TIMEOUT,
        stall_timeout_s=TIMEOUT,
    )
    yield provider
    await provider.aclose()


async def collect(
    llm: OpenAIChatLLM, messages: list[ChatMessage], tools: list[ToolSpec] | None = None
) -> list[LLMEvent]:
    return [event async for event in llm.stream(messages, tools)]


async def test_text_arrives_in_order(llm: OpenAIChatLLM, llm_server: LLMServer) -> None:  # noqa: F811
    llm_server.queue(Script(text("Hello ", "there, ", "friend.")))
    events = await collect(llm, USER)
    assert events[:3] == [TextDelta("Hello "), TextDelta("there, "), TextDelta("friend.")]
    assert len(events) == 4
    finished = events[3]
    assert isinstance(finished, Finished) and finished.finish_reason == "stop"
    assert finished.usage is not None and finished.usage.completion_tokens == 3


async def test_default_responder_echoes_last_user_message(llm: OpenAIChatLLM) -> None:
    events = await collect(llm, [ChatMessage("user", "first"), ChatMessage("user", "Hi there!")])
    said = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert said == "You said: Hi there. What else?"


async def test_parallel_tool_calls_are_assembled(
    llm: OpenAIChatLLM,
    llm_server: LLMServer,  # noqa: F811
) -> None:
    weather = {"city": "Paris", "units": "metric", "days": [1, 2, 3]}
    llm_server.queue(
        Script(
            text("Let me check. "),
            tool_call("get_weather", weather, id="call_a", pieces=5),
            tool_call("get_time", {"tz": "Europe/Paris"}, id="call_b", pieces=4),
        )
    )
    events = await collect(llm, USER)
    assert events[0] == TextDelta("Let ")
    ready = [e for e in events if isinstance(e, ToolCallsReady)]
    assert len(ready) == 1 and events[-2] is ready[0]
    calls = ready[0].calls
    assert [(c.id, c.name) for c in calls] == [("call_a", "get_weather"), ("call_b", "get_time")]
    assert json.loads(calls[0].arguments) == weather
    assert json.loads(calls[1].arguments) == {"tz": "Europe/Paris"}
    finished = events[-1]
    assert isinstance(finished, Finished) and finished.finish_reason == "tool_calls"


async def test_request_is_in_openai_format(llm: OpenAIChatLLM, llm_server: LLMServer) -> None:  # noqa: F811
    call = ToolCall("call_1", "get_weather", '{"city": "Paris"}')
    messages = [
        ChatMessage("system", "Be brief."),
        ChatMessage("user", "Weather in Paris?"),
        ChatMessage("assistant", None, tool_calls=[call]),
        ChatMessage("tool", '{"sky": "clear"}', tool_call_id="call_1", name="get_weather"),
        ChatMessage("assistant", "It is clear."),
        ChatMessage("user", "Thanks"),
    ]
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    tools = [ToolSpec("get_weather", "Current weather for a city", schema)]
    await collect(llm, messages, tools)

    [request] = llm_server.chat_requests
    body = request.body
    assert body["model"] == "test-model"
    assert body["stream"] is True
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"sky": "clear"}'},
        {"role": "assistant", "content": "It is clear."},
        {"role": "user", "content": "Thanks"},
    ]
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Current weather for a city",
                "parameters": schema,
            },
        }
    ]
    assert request.headers["authorization"] == "Bearer sk-test"


async def test_no_tools_sends_no_tools_key(llm: OpenAIChatLLM, llm_server: LLMServer) -> None:  # noqa: F811
    await collect(llm, USER, [])
    assert "tools" not in llm_server.chat_requests[0].body


@pytest.mark.parametrize(
    ("status", "hint", "retryable"),
    [(500, "", True), (401, "PARLEY_LLM_API_KEY", False), (404, "PARLEY_LLM_MODEL", False)],
)
async def test_http_errors_become_llm_errors(
    llm: OpenAIChatLLM,
    llm_server: LLMServer,  # noqa: F811
    status: int,
    hint: str,
    retryable: bool,
) -> None:
    llm_server.queue(Script(error(status, "the server's own words")))
    with pytest.raises(LLMError) as caught:
        await collect(llm, USER)
    err = caught.value
    assert (err.code, err.status, err.retryable) == ("llm_error", status, retryable)
    assert f"HTTP {status}" in err.message and "the server's own words" in err.message
    assert hint in err.message
    assert len(llm_server.chat_requests) == 1  # no retries by the client


async def test_error_mid_stream(llm: OpenAIChatLLM, llm_server: LLMServer) -> None:  # noqa: F811
    llm_server.queue(Script(text("Hello "), error(500, "model crashed")))
    got: list[LLMEvent] = []
    with pytest.raises(LLMError) as caught:
        async for event in llm.stream(USER):
            got.append(event)
    assert got == [TextDelta("Hello ")]
    assert caught.value.code == "llm_error" and "model crashed" in caught.value.message


async def test_connection_refused_fails_fast() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    llm = OpenAIChatLLM(f"http://127.0.0.1:{port}/v1", "m", None, first_token_timeout_s=5)
    start = time.monotonic()
    with pytest.raises(LLMError) as caught:
        await collect(llm, USER)
    await llm.aclose()
    assert time.monotonic() - start < 2.0
    assert caught.value.code == "llm_unavailable" and caught.value.retryable
    assert "PARLEY_LLM_BASE_URL" in caught.value.message


@pytest.mark.parametrize(
    "script",
    [Script(stall()), Script(delay(30), text("too late"))],
    ids=["headers-then-silence", "no-headers"],
)
async def test_first_token_stall_times_out(
    llm: OpenAIChatLLM,
    llm_server: LLMServer,  # noqa: F811
    script: Script,
) -> None:
    llm_server.queue(script)
    start = time.monotonic()
    with pytest.raises(LLMError) as caught:
        await collect(llm, USER)
    elapsed = time.monotonic() - start
    assert caught.value.code == "llm_timeout"
    assert TIMEOUT * 0.9 <= elapsed < TIMEOUT + 1.0
    assert await llm_server.chat_requests[0].wait_closed_async(1.0)


async def test_mid_stream_stall_times_out(llm: OpenAIChatLLM, llm_server: LLMServer) -> None:  # noqa: F811
    llm_server.queue(Script(text("Hello ", "there "), stall()))
    got: list[LLMEvent] = []
    with pytest.raises(LLMError) as caught:
        async for event in llm.stream(USER):
            got.append(event)
            last = time.monotonic()
    assert caught.value.code == "llm_timeout" and "stalled" in caught.value.message
    assert got == [TextDelta("Hello "), TextDelta("there ")]
    assert TIMEOUT * 0.9 <= time.monotonic() - last < TIMEOUT + 1.0
    assert await llm_server.chat_requests[0].wait_closed_async(1.0)


async def test_slow_trickle_hits_the_overall_timeout(llm_server: LLMServer) -> None:  # noqa: F811
    llm_server.chunk_delay = 0.1  # never stalls, but never finishes in time
    llm_server.queue(Script(text(*["word "] * 20)))
    llm = OpenAIChatLLM(llm_server.base_url, "m", None, timeout_s=0.5, stall_timeout_s=0.3)
    start = time.monotonic()
    with pytest.raises(LLMError) as caught:
        await collect(llm, USER)
    await llm.aclose()
    assert caught.value.code == "llm_timeout" and "took over" in caught.value.message
    assert time.monotonic() - start < 1.5


@pytest.mark.parametrize("where", ["awaiting-the-stream", "in-the-loop-body"])
async def test_cancelling_closes_the_connection(
    llm: OpenAIChatLLM,
    llm_server: LLMServer,  # noqa: F811
    where: str,
) -> None:
    llm.stall_timeout_s = 30  # only the cancellation may end this stream
    llm_server.queue(Script(text("Hello "), stall()))
    first = asyncio.Event()

    async def reply() -> None:
        async with aclosing(llm.stream(USER)) as events:
            async for _ in events:
                first.set()
                if where == "in-the-loop-body":
                    await asyncio.sleep(30)  # e.g. waiting on TTS

    task = asyncio.create_task(reply())
    await asyncio.wait_for(first.wait(), 2)
    await asyncio.sleep(0.05)
    assert not llm_server.chat_requests[0].closed_by_client
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await llm_server.chat_requests[0].wait_closed_async(0.5)


async def test_unset_model_uses_the_first_listed(llm_server: LLMServer) -> None:  # noqa: F811
    llm_server.models = ("first-model", "second-model")
    llm = llm_from_settings(llm_server.base_url, None, None)
    assert isinstance(llm, OpenAIChatLLM)
    await collect(llm, USER)
    await collect(llm, USER)
    await llm.aclose()
    assert [r.body["model"] for r in llm_server.chat_requests] == ["first-model"] * 2
    assert [r.path for r in llm_server.requests].count("/v1/models") == 1


async def test_unconfigured_says_what_to_set() -> None:
    llm = llm_from_settings(None, "some-model", "key")
    assert isinstance(llm, UnconfiguredLLM)
    with pytest.raises(LLMError) as caught:
        async for _ in llm.stream(USER):
            pass
    assert caught.value.code == "llm_not_configured"
    assert "PARLEY_LLM_BASE_URL" in caught.value.message


def test_double_serves_sync_clients_without_streaming(llm_server: LLMServer) -> None:  # noqa: F811
    llm_server.queue(Script(text("Checking. "), tool_call("lookup", {"q": "x"}, id="call_q")))
    client = openai.OpenAI(base_url=llm_server.base_url, api_key="k", max_retries=0)
    completion = client.chat.completions.create(
        model="test-model", messages=[{"role": "user", "content": "hi"}]
    )
    message = completion.choices[0].message
    assert message.content == "Checking. "
    assert message.tool_calls is not None and message.tool_calls[0].id == "call_q"
    assert completion.choices[0].finish_reason == "tool_calls"
    assert [m.id for m in client.models.list()] == ["test-model"]
    client.close()


def test_assembler_tolerates_index_less_whole_calls() -> None:
    """Some servers send each call whole, without `index`, or repeat the name per fragment."""

    def frag(index: int | None, name: str, arguments: str, id: str | None = None) -> Any:
        function = ChoiceDeltaToolCallFunction(name=name, arguments=arguments)
        return ChoiceDeltaToolCall.model_construct(index=cast(int, index), id=id, function=function)

    calls = _ToolCallAssembler()
    calls.add([frag(None, "f", '{"x": 1}', id="a")])
    calls.add([frag(None, "g", "{}", id="b")])
    calls.add([frag(2, "h", '{"y"')])
    calls.add([frag(2, "h", ": 2}")])
    result = calls.result()
    assert [(c.id, c.name, c.arguments) for c in result[:2]] == [
        ("a", "f", '{"x": 1}'),
        ("b", "g", "{}"),
    ]
    assert (result[2].name, result[2].arguments) == ("h", '{"y": 2}')
    assert result[2].id.startswith("call_")
