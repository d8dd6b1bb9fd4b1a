"""The embedded LLM alone: load time, time to first token, tokens/s, event-loop lag, RSS.

    python -m bench.llm_bench [--replies 8] [--threads 1] [--gguf PATH] [--server]

Runs the provider Parley uses (`EmbeddedLLM`: llama.cpp on a worker thread) in this
process, on the bench conversations' questions, each with the voice system prompt the
engine sends. While it generates, a 5 ms asyncio ticker measures how late the event loop
runs (what a session's audio pacer would suffer); the same ticker runs idle first, as the
baseline. `--server` measures the alternative too: llama.cpp's own OpenAI-compatible
server (`python -m llama_cpp.server`, needs the extra `pip install
'llama-cpp-python[server]'`, i.e. sse-starlette, starlette-context, pydantic-settings) as a
child process, streamed through Parley's OpenAI client. Its start-up log (~215 KB from
llama.cpp) goes to a file: read from an undrained pipe, it filled the pipe and the child
blocked before it listened (why an earlier run "did not start within 3 min").
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

from bench import procfs
from parley.engine.memory import system_message
from parley.providers.llm.base import ChatMessage, LLMProvider, TextDelta

QUESTIONS = [
    "What should I see first in Paris?",
    "Can you recommend a good book for a long flight?",
    "How do I make a simple tomato soup?",
    "What is the weather usually like in Lisbon in spring?",
    "I would like to book a table for two tonight.",
    "Why is the sky blue?",
    "What is the best way to get from the airport to the hotel?",
    "Tell me a short fact about octopuses.",
]
PERSONA = "You are a friendly travel assistant. Answer in one or two short sentences."


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


@contextlib.asynccontextmanager
async def ticker(period_s: float = 0.005) -> AsyncIterator[list[float]]:
    """Lateness of a `period_s` sleep loop, in ms, while the block runs."""
    lags: list[float] = []
    stop = asyncio.Event()

    async def tick() -> None:
        while not stop.is_set():
            t = time.perf_counter()
            await asyncio.sleep(period_s)
            lags.append((time.perf_counter() - t - period_s) * 1000)

    task = asyncio.create_task(tick())
    try:
        yield lags
    finally:
        stop.set()
        await task


async def replies(llm: LLMProvider, n: int) -> tuple[list[float], list[float], list[int]]:
    ttft, rates, counts = [], [], []
    for i in range(n):
        q = QUESTIONS[i % len(QUESTIONS)]
        messages = [system_message(PERSONA, "en"), ChatMessage("user", q)]
        start = time.perf_counter()
        first = last = 0.0
        pieces = 0
        async for event in llm.stream(messages):
            if isinstance(event, TextDelta):
                last = time.perf_counter()
                first = first or last
                pieces += 1
        ttft.append((first - start) * 1000)
        if pieces > 1 and last > first:
            rates.append((pieces - 1) / (last - first))
        counts.append(pieces)
    return ttft, rates, counts


def report(name: str, ttft: list[float], rates: list[float], lag: list[float]) -> None:
    print(
        f"{name:<34} first token p50 {pct(ttft, 50):6.0f} ms  p95 {pct(ttft, 95):6.0f} ms | "
        f"{statistics.mean(rates) if rates else 0:5.1f} pieces/s | loop lag p50 "
        f"{pct(lag, 50):5.2f} p99 {pct(lag, 99):5.2f} max {max(lag, default=0):6.2f} ms"
    )


async def embedded(args: argparse.Namespace) -> None:
    from parley.providers.llm.embedded import EmbeddedLLM
    from parley.providers.llm.gguf import resolve_gguf
    from parley.providers.llm.llama_worker import Sampling

    rss0 = procfs.rss_mb(os.getpid())
    t = time.perf_counter()
    gguf = resolve_gguf(args.gguf)
    verify_s = time.perf_counter() - t
    llm = EmbeddedLLM(gguf, threads=args.threads, sampling=Sampling(max_tokens=args.max_tokens))
    rss1 = procfs.rss_mb(os.getpid())
    print(
        f"model {gguf.name}: SHA-256 check {verify_s * 1000:.0f} ms, load "
        f"{llm.worker.load_s * 1000:.0f} ms, RSS {rss0:.0f} → {rss1:.0f} MB "
        f"(+{rss1 - rss0:.0f} MB), {args.threads} thread(s), context {llm.worker.context}"
    )
    async with ticker() as idle:
        await asyncio.sleep(2.0)
    report("idle event loop", [], [], idle)
    await replies(llm, 1)  # warm
    async with ticker() as lag:
        ttft, rates, counts = await replies(llm, args.replies)
    report("embedded, worker thread", ttft, rates, lag)
    print(
        f"  reply length {min(counts)}–{max(counts)} pieces; RSS after "
        f"{procfs.rss_mb(os.getpid()):.0f} MB"
    )
    await llm.aclose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(args: argparse.Namespace, model: Path, port: int) -> subprocess.Popen[bytes]:
    import httpx

    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host",
           "127.0.0.1", "--port", str(port), "--n_threads", str(args.threads),
           "--n_threads_batch", str(args.threads), "--n_ctx", "2048"]  # fmt: skip
    log = tempfile.TemporaryFile()  # never a pipe nobody reads: the child would block on it
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.monotonic() + 180
    while proc.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1).status_code == 200:
                return proc
        time.sleep(0.1)
    proc.kill()
    log.seek(0)
    err = log.read().decode(errors="replace")[-400:]
    hint = "pip install 'llama-cpp-python[server]'?"
    raise RuntimeError(f"llama_cpp.server did not start ({hint}): {err}")


async def child_server(args: argparse.Namespace) -> None:
    from parley.providers.llm.gguf import resolve_gguf
    from parley.providers.llm.openai_chat import OpenAIChatLLM

    gguf = resolve_gguf(args.gguf)
    port = free_port()
    t = time.perf_counter()
    proc = await asyncio.to_thread(start_server, args, gguf.path, port)
    llm = OpenAIChatLLM(f"http://127.0.0.1:{port}/v1", "local")
    try:
        print(
            f"llama_cpp.server child: ready in {(time.perf_counter() - t) * 1000:.0f} ms, its "
            f"RSS {procfs.rss_mb(proc.pid):.0f} MB"
        )
        await replies(llm, 1)
        async with ticker() as lag:
            ttft, rates, _ = await replies(llm, args.replies)
        report("llama_cpp.server child, HTTP/SSE", ttft, rates, lag)
        print(
            f"  child RSS after {procfs.rss_mb(proc.pid):.0f} MB; this process "
            f"{procfs.rss_mb(os.getpid()):.0f} MB"
        )
    finally:
        await llm.aclose()
        proc.terminate()
        await asyncio.to_thread(proc.wait, 10)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.llm_bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--replies", type=int, default=8)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--max-tokens", type=int, default=96)
    p.add_argument("--gguf", type=Path, default=None, help="another GGUF (PARLEY_LLM_GGUF)")
    p.add_argument("--server", action="store_true", help="also measure llama_cpp.server")
    args = p.parse_args(argv)
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    asyncio.run(embedded(args))
    if args.server:
        asyncio.run(child_server(args))
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
