"""Voice-to-voice on each wire protocol, side by side: the native stream, Deepgram's Voice
Agent API and OpenAI's Realtime API, against one real `parley serve` process.

    .venv/bin/python -m bench.protocols_bench --rounds 10

Each round opens a session on each protocol in turn, speaks the same question (espeak-ng,
paced in real time, then silence), and measures the time from the end of the speech to the
first byte of reply audio the client receives. The LLM double answers with a fixed 300 ms
first-token delay (as in voice_bench.py); STT, VAD, end of turn and TTS are the embedded
models. The order of the protocols rotates from round to round. Prints one line per round,
then per protocol voice-to-voice p50 / p95 and the protocol's overhead: its voice-to-voice
minus the native stream's in the same round (p50 / p95 of those differences).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import websockets

from bench.doubles import Doubles
from bench.report import fmt, pct
from bench.server import ServerProcess
from parley.audio.resample import resample
from tests.speech import speak

KEY = "prl_bench_protocols_0123456789abcdef"
QUESTION = "Can you help me with my order?"
VOICE = "espeak-en-us-female"  # the same voice (and TTS) on every protocol
Sender = Callable[[bytes], Awaitable[None]]


async def _talk(
    send: Sender, first_audio: asyncio.Future[float], pcm: np.ndarray, rate: int
) -> float:
    """Speak `pcm` (at `rate`) in 20 ms chunks in real time; voice-to-voice in ms."""
    step = rate // 50
    audio = np.concatenate([np.zeros(rate // 3, np.int16), pcm])
    start = time.monotonic()
    for i, offset in enumerate(range(0, len(audio), step)):
        await send(audio[offset : offset + step].astype("<i2").tobytes())
        await asyncio.sleep(max(0.0, start + (i + 1) * 0.02 - time.monotonic()))
    speech_end = time.monotonic()
    silence = np.zeros(step, np.int16).tobytes()
    while not first_audio.done() and time.monotonic() - speech_end < 20:
        await send(silence)
        await asyncio.sleep(0.02)
    return (await asyncio.wait_for(first_audio, 1)) - speech_end


async def _read(
    ws: Any, first_audio: asyncio.Future[float], is_audio: Callable[[Any], bool]
) -> None:
    async for message in ws:
        if is_audio(message) and not first_audio.done():
            first_audio.set_result(time.monotonic())


async def _measure(
    ws: Any, is_audio: Callable[[Any], bool], send: Sender, pcm: np.ndarray, rate: int
) -> float:
    first: asyncio.Future[float] = asyncio.get_running_loop().create_future()
    reader = asyncio.create_task(_read(ws, first, is_audio))
    try:
        return await _talk(send, first, pcm, rate)
    finally:
        reader.cancel()


async def native(srv: ServerProcess, pcm16k: np.ndarray) -> float:
    async with httpx.AsyncClient(base_url=srv.url, headers={"Authorization": f"Bearer {KEY}"}) as c:
        r = await c.post(
            "/v1/conversations/create",
            json={"voice_id": VOICE, "system_prompt": "Be brief."},
        )
    sid = r.json()["session_id"]
    url = f"{srv.ws_url}/v1/conversations/{sid}/stream"
    async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {KEY}"}) as ws:
        await ws.recv()  # session_started
        return await _measure(ws, lambda m: isinstance(m, bytes), ws.send, pcm16k, 16000)


async def deepgram(srv: ServerProcess, pcm16k: np.ndarray) -> float:
    url = f"{srv.ws_url}/v1/agent/converse"
    async with websockets.connect(url, additional_headers={"Authorization": f"Token {KEY}"}) as ws:
        await ws.recv()  # Welcome
        audio = {
            "input": {"encoding": "linear16", "sample_rate": 16000},
            "output": {"encoding": "linear16", "sample_rate": 24000},
        }
        await ws.send(
            json.dumps(
                {
                    "type": "Settings",
                    "audio": audio,
                    "agent": {
                        "think": {"prompt": "Be brief."},
                        "speak": {"provider": {"type": "parley", "voice_id": VOICE}},
                    },
                }
            )
        )
        while json.loads(await ws.recv())["type"] != "SettingsApplied":
            pass
        return await _measure(ws, lambda m: isinstance(m, bytes), ws.send, pcm16k, 16000)


async def openai_realtime(srv: ServerProcess, pcm16k: np.ndarray) -> float:
    url = f"{srv.ws_url}/v1/realtime?model=gpt-realtime"
    async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {KEY}"}) as ws:
        await ws.recv()  # session.created
        update = {"instructions": "Be brief.", "audio": {"output": {"voice": VOICE}}}
        await ws.send(json.dumps({"type": "session.update", "session": update}))
        while json.loads(await ws.recv())["type"] != "session.updated":
            pass
        delta = '"type": "response.output_audio.delta"'

        async def send(chunk: bytes) -> None:
            event = {"type": "input_audio_buffer.append", "audio": base64.b64encode(chunk).decode()}
            await ws.send(json.dumps(event))

        pcm24k = resample(pcm16k, 16000, 24000)
        return await _measure(ws, lambda m: isinstance(m, str) and delta in m, send, pcm24k, 24000)


PROTOCOLS = {"native": native, "deepgram": deepgram, "openai": openai_realtime}


async def run(rounds: int) -> dict[str, list[float]]:
    pcm = speak(QUESTION)
    results: dict[str, list[float]] = {name: [] for name in PROTOCOLS}
    names = list(PROTOCOLS)
    with tempfile.TemporaryDirectory() as tmp:
        doubles = Doubles(llm_delay=0.3, stt=False, flag_dir=Path(tmp) / "flags")
        try:
            with ServerProcess(Path(tmp), KEY, doubles.llm_url, log_level="warning") as srv:
                for n in range(rounds + 1):  # round 0 warms the models up
                    line = {}
                    for name in names[n % 3 :] + names[: n % 3]:
                        line[name] = (await PROTOCOLS[name](srv, pcm)) * 1000
                        if n:
                            results[name].append(line[name])
                    shown = "   ".join(f"{k} {line[k]:6.0f} ms" for k in names)
                    print(("warm-up  " if n == 0 else f"round {n:<3}") + shown, flush=True)
        finally:
            doubles.stop()
    return results


def summary(results: dict[str, list[float]]) -> list[str]:
    native = results["native"]
    out = []
    for name, values in results.items():
        line = f"{name:9} voice-to-voice p50 {fmt(pct(values, 50))} / p95 {fmt(pct(values, 95))} ms"
        if name != "native":
            diff = [v - n for v, n in zip(values, native, strict=True)]
            line += f"   overhead vs native p50 {fmt(pct(diff, 50))} / p95 {fmt(pct(diff, 95))} ms"
        out.append(line)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    results = asyncio.run(run(parser.parse_args().rounds))
    print("\n".join(summary(results)))


if __name__ == "__main__":
    main()
