"""The embedded LLM provider on the real model: streaming, cancellation, queue, context."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator

import pytest

from parley.providers.llm.base import ChatMessage, Delayed, Finished, LLMError, TextDelta
from parley.providers.llm.embedded import EmbeddedLLM

COUNT = [
    ChatMessage("system", "You are a storyteller."),
    ChatMessage("user", "Tell me a very long story about a dragon, with many details."),
]


@pytest.fixture
def llm(embedded_llm: EmbeddedLLM) -> Iterator[EmbeddedLLM]:
    """The session's model, idle, with its queue settings restored after the test."""
    worker = embedded_llm.worker
    depth, wait = worker.queue_depth, embedded_llm.queue_wait_s
    filler = embedded_llm.filler_after_s
    deadline = time.monotonic() + 30
    while worker.busy and time.monotonic() < deadline:
        time.sleep(0.05)
    yield embedded_llm
    worker.queue_depth, embedded_llm.queue_wait_s = depth, wait
    embedded_llm.filler_after_s = filler


async def collect(llm: EmbeddedLLM, messages: list[ChatMessage]) -> tuple[str, Finished]:
    text: list[str] = []
    async for event in llm.stream(messages):
        if isinstance(event, TextDelta):
            text.append(event.text)
        elif isinstance(event, Finished):
            return "".join(text), event
    raise AssertionError("no Finished event")


async def wait_idle(llm: EmbeddedLLM, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while llm.worker.busy:
        assert time.monotonic() < deadline, "the worker stayed busy"
        await asyncio.sleep(0.02)


async def test_a_reply_streams_and_ends_on_the_end_of_turn_token(llm: EmbeddedLLM) -> None:
    messages = [
        ChatMessage("system", "You are a helpful assistant. Answer in one short sentence."),
        ChatMessage("user", "What is the capital of France?"),
    ]
    text, finished = await collect(llm, messages)
    assert "paris" in text.lower(), text
    assert "<|im_end|>" not in text and "<|im_start|>" not in text
    assert finished.finish_reason in ("stop", "length")
    assert finished.usage is not None and finished.usage.completion_tokens > 0
    assert llm.worker.template_source == "GGUF metadata"


async def test_closing_the_stream_stops_the_worker(llm: EmbeddedLLM) -> None:
    worker = llm.worker
    before = len(worker.finished)
    pieces = 0
    async with contextlib.aclosing(llm.stream(COUNT)) as events:
        async for event in events:
            pieces += isinstance(event, TextDelta)
            if pieces == 5:
                break  # the consumer goes away, as a cancelled reply task does
    closed = time.monotonic()
    at_close = worker.tokens_generated
    await wait_idle(llm, timeout=2.0)
    await asyncio.sleep(0.3)
    record = list(worker.finished)[before]
    assert record.finish_reason == "cancelled"
    assert record.ended - closed < 0.3
    assert worker.tokens_generated - at_close <= 2, "tokens after the consumer left"
    assert record.tokens < 40


async def test_a_full_queue_answers_llm_busy_at_once(llm: EmbeddedLLM) -> None:
    llm.worker.queue_depth = 1
    async with contextlib.aclosing(llm.stream(COUNT)) as first:
        assert isinstance(await anext(first), TextDelta)  # generating: nobody waits
        llm.worker.queue_depth = 0  # so nothing may wait
        started = time.monotonic()
        with pytest.raises(LLMError) as caught:
            await collect(llm, [ChatMessage("user", "Hello?")])
        assert time.monotonic() - started < 0.5
    assert caught.value.code == "llm_busy"
    assert "PARLEY_LLM_QUEUE_DEPTH" in caught.value.message


async def test_a_reply_that_waits_too_long_gets_llm_busy_and_is_never_generated(
    llm: EmbeddedLLM,
) -> None:
    llm.queue_wait_s = 0.3
    worker = llm.worker
    async with contextlib.aclosing(llm.stream(COUNT)) as first:
        assert isinstance(await anext(first), TextDelta)
        with pytest.raises(LLMError) as caught:
            await collect(llm, [ChatMessage("user", "Hello?")])
        assert caught.value.code == "llm_busy" and "PARLEY_LLM_QUEUE_WAIT_S" in caught.value.message
        before = len(worker.finished)
    await wait_idle(llm)
    await asyncio.sleep(0.2)
    assert len(worker.finished) == before + 1, "only the first reply was generated"


async def test_a_reply_queued_past_the_filler_threshold_reports_delayed_then_streams(
    llm: EmbeddedLLM,
) -> None:
    llm.filler_after_s = 0.3
    async with contextlib.aclosing(llm.stream(COUNT)) as first:
        assert isinstance(await anext(first), TextDelta)  # generating: the next one waits
        started = time.monotonic()
        async with contextlib.aclosing(llm.stream([ChatMessage("user", "Hello?")])) as second:
            delayed = await anext(second)
            waited = time.monotonic() - started
            assert delayed == Delayed(0.3, 1), delayed
            assert 0.25 < waited < 1.5, waited
            await first.aclose()  # the model is free: the queued reply starts
            rest = [event async for event in second]
    assert not any(isinstance(e, Delayed) for e in rest), "reported once"
    assert any(isinstance(e, TextDelta) for e in rest)
    assert isinstance(rest[-1], Finished)


async def test_old_turns_are_left_out_to_fit_the_context(llm: EmbeddedLLM) -> None:
    worker = llm.worker
    filler = "Tell me more about the history of the old harbour and its ships. " * 8
    history = [{"role": "system", "content": "You are terse."}]
    for i in range(40):
        history.append({"role": "user", "content": f"{i}: {filler}"})
        history.append({"role": "assistant", "content": f"Answer {i}: {filler}"})
    history.append({"role": "user", "content": "And the lighthouse?"})
    tokens, dropped = worker.fit(history, None)
    assert dropped > 0
    assert len(tokens) <= worker.context - worker.sampling.max_tokens
    prompt = worker._llama.detokenize(tokens).decode()
    assert prompt.count("You are terse.") == 1 and "And the lighthouse?" in prompt
    assert "0: Tell me" not in prompt and "39: Tell me" in prompt  # the oldest went first


async def test_a_prompt_that_cannot_fit_is_a_clear_error(llm: EmbeddedLLM) -> None:
    huge = "word " * (llm.worker.context + 100)
    with pytest.raises(LLMError) as caught:
        await collect(llm, [ChatMessage("system", huge), ChatMessage("user", "Hi")])
    assert caught.value.code == "llm_error"
    assert "PARLEY_LLM_CONTEXT" in caught.value.message


def test_describe_says_what_runs_and_how_fast(embedded_llm: EmbeddedLLM) -> None:
    line = embedded_llm.describe()
    assert "SmolLM2-135M-Instruct" in line and "98 MB" in line
    assert "context 2048 of 8192 tokens" in line
    assert embedded_llm.speed is not None and embedded_llm.speed.tokens_per_s > 0
    assert "tokens/s" in line
