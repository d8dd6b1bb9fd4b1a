"""Text-to-speech: first-audio latency and real-time factor, Piper and espeak-ng.

    python -m bench.tts_bench [--repeat 3]

Speaks reply-like sentences (short, medium, and long ones that Piper cuts at a clause
boundary) through the providers as the server uses them (`synthesize()`, off the event
loop), after one warm-up call each. First audio: the call -> the first chunk; RTF:
synthesis time / audio duration (wall clock, which a loaded machine inflates; `cpu_rtf`
is this process's CPU-s per second of audio). Also how late a 5 ms timer on the event loop woke
meanwhile (synthesis must not stall the loop).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from parley.providers.tts.base import TTSProvider
from parley.providers.tts.espeak import EspeakTTS
from parley.providers.tts.piper import BUNDLED_VOICE_ID, PiperTTS

SENTENCES = (
    "Hello! How can I help you today?",
    "You said: what time does the museum open tomorrow.",
    "The museum opens at nine in the morning and closes at six in the evening.",
    "Paris is lovely in the spring, and the Louvre is the best place to start, though the "
    "queues can be long in the morning.",
    "The best way to get from the hotel to the old town is the number five tram, which stops "
    "at the cathedral every ten minutes.",
)


async def measure(tts: TTSProvider, voice: str, repeat: int) -> dict[str, Any]:
    [_ async for _ in tts.synthesize("Warm up.", voice)]
    late: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        while not stop.is_set():
            t = time.perf_counter()
            await asyncio.sleep(0.005)
            late.append(time.perf_counter() - t - 0.005)

    tick = asyncio.create_task(ticker())
    first, rtf = [], []
    cpu0, audio_s = time.process_time(), 0.0
    for _ in range(repeat):
        for text in SENTENCES:
            t0 = time.perf_counter()
            t_first, samples, rate = None, 0, 1
            async for chunk in tts.synthesize(text, voice):
                t_first = t_first or time.perf_counter() - t0
                samples, rate = samples + chunk.samples.size, chunk.sample_rate
            first.append(t_first or 0.0)
            rtf.append((time.perf_counter() - t0) / (samples / rate))
            audio_s += samples / rate
    stop.set()
    await tick
    ms = np.array(first) * 1000
    return {
        "voice": voice,
        "first_audio_ms_p50": round(float(np.percentile(ms, 50))),
        "first_audio_ms_p95": round(float(np.percentile(ms, 95))),
        "rtf_p50": round(float(np.percentile(rtf, 50)), 3),
        # CPU-s of this process per s of audio: what the machine's load does not inflate
        "cpu_rtf": round((time.process_time() - cpu0) / audio_s, 3),
        "loop_late_ms_p99": round(float(np.percentile(late, 99)) * 1000, 1),
        "loop_late_ms_max": round(max(late) * 1000, 1),
    }


async def run(repeat: int) -> list[dict[str, Any]]:
    piper = PiperTTS(Path(tempfile.mkdtemp()))
    return [
        await measure(piper, BUNDLED_VOICE_ID, repeat),
        await measure(EspeakTTS(), "espeak-en-us-female", repeat),
    ]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=3)
    for line in asyncio.run(run(p.parse_args().repeat)):
        print(json.dumps(line))


if __name__ == "__main__":
    main()
