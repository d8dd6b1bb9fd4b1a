"""Speech-to-text through the real server: word error rate, final delay, cadence, CPU, RSS.

    python -m bench.stt_bench --stt whisper --sessions 1
    python -m bench.stt_bench --stt pocketsphinx --sessions 10 --no-recordings

Every session speaks every sentence of `bench/stt_sentences.py` in both voices (espeak-ng,
and the Piper voice), then the real recordings, into its own conversation, in real time as
20 ms pcm16 frames; silence in between until the reply has been spoken. Figures:

- WER of the final user transcripts (numbers normalised, `bench/wer.py`), per input set;
- final delay: end of turn decided -> final transcript, from each reply's latency record
  (`stt_final_ms - end_of_turn_ms`), p50 / p95;
- interim cadence: the gap between interim transcripts of one utterance at the client;
- CPU-s per s of speech: the server's process tree over the run, per second of speech sent;
- RSS of the server (and workers): before the sessions, peak, after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import websockets

from bench.doubles import Doubles
from bench.procfs import sample_tree
from bench.server import ServerProcess
from bench.stt_sentences import RECORDINGS, RECORDINGS_DIR, SENTENCES
from bench.wer import wer

KEY = "prl_bench_stt_key_0123456789abcdef"
FRAME = 320  # 20 ms at 16 kHz


@dataclass
class Utterance:
    kind: str  # espeak | piper | recording
    reference: str
    audio: np.ndarray


@dataclass
class Heard:
    utterance: Utterance
    finals: list[str] = field(default_factory=list)
    interim_gaps: list[float] = field(default_factory=list)


def _espeak(text: str) -> np.ndarray:
    from tests.speech import speak

    return speak(text, "espeak-en-us-male")


def _piper(texts: tuple[str, ...]) -> list[np.ndarray]:
    from parley.audio.resample import resample
    from parley.providers.tts.piper import BUNDLED_VOICE_ID, PiperTTS

    async def run() -> list[np.ndarray]:
        tts = PiperTTS(Path(tempfile.mkdtemp()))
        out = []
        for text in texts:
            parts = [c.samples async for c in tts.synthesize(text, BUNDLED_VOICE_ID)]
            out.append(resample(np.concatenate(parts), 22050, 16000))
        return out

    return asyncio.run(run())


def _recording(name: str) -> np.ndarray:
    """A recording as 16 kHz mono int16 (FFmpeg's resampler: any format, packed or planar)."""
    import av

    out = []
    resampler = av.AudioResampler(format="s16", layout="mono", rate=16000)
    with av.open(str(RECORDINGS_DIR / name)) as f:
        for frame in f.decode(f.streams.audio[0]):
            out += [r.to_ndarray().reshape(-1) for r in resampler.resample(frame)]
    out += [r.to_ndarray().reshape(-1) for r in resampler.resample(None)]
    return np.concatenate(out).astype(np.int16)


def inputs(voices: list[str], recordings: bool) -> list[Utterance]:
    out: list[Utterance] = []
    if "espeak" in voices:
        out += [Utterance("espeak", s, _espeak(s)) for s in SENTENCES]
    if "piper" in voices:
        out += [Utterance("piper", s, a) for s, a in zip(SENTENCES, _piper(SENTENCES), strict=True)]
    if recordings:
        out += [Utterance("recording", ref, _recording(name)) for name, ref in RECORDINGS.items()]
    return out


async def session(url: str, ws_url: str, utterances: list[Utterance]) -> tuple[list[Heard], Any]:
    headers = {"Authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as http:
        body = {"voice_id": "espeak-en-us-female", "system_prompt": "Be brief.", "language": "en"}
        sid = (await http.post("/v1/conversations/create", json=body)).json()["session_id"]
        results: list[Heard] = []
        stream = f"{ws_url}/v1/conversations/{sid}/stream?sample_rate=16000&encoding=pcm16"
        async with websockets.connect(stream, additional_headers=headers) as ws:
            events: list[tuple[float, dict[str, Any]]] = []

            async def reader() -> None:
                async for msg in ws:
                    if isinstance(msg, str):
                        events.append((time.monotonic(), json.loads(msg)))

            task = asyncio.create_task(reader())
            silence = np.zeros(FRAME, dtype=np.int16).tobytes()
            next_t = time.monotonic()

            async def send(samples: np.ndarray) -> None:
                nonlocal next_t
                for i in range(0, samples.size, FRAME):
                    chunk = samples[i : i + FRAME]
                    await ws.send(np.pad(chunk, (0, FRAME - chunk.size)).tobytes())
                    next_t += 0.02
                    await asyncio.sleep(max(0.0, next_t - time.monotonic()))

            async def quiet_until(done: Any, limit: float) -> None:
                end = time.monotonic() + limit
                while not done() and time.monotonic() < end:
                    await send(np.frombuffer(silence, dtype=np.int16))

            await send(np.zeros(16000 // 2, dtype=np.int16))
            for utt in utterances:
                start = len(events)
                await send(utt.audio)

                def replied(start: int = start) -> bool:
                    """Every user turn of this input has its final and its reply, spoken."""
                    mine = [e for _, e in events[start:]]
                    users = [i for i, e in enumerate(mine) if _is(e, "turn_start", "user")]
                    finals = [
                        i
                        for i, e in enumerate(mine)
                        if _is(e, "transcript", "user") and e["is_final"]
                    ]
                    ends = [i for i, e in enumerate(mine) if _is(e, "turn_end", "assistant")]
                    return (
                        bool(finals)
                        and len(finals) >= len(users)
                        and bool(ends)
                        and ends[-1] > finals[-1]
                        and not _speaking(events)
                    )

                await quiet_until(replied, 30.0)
                await quiet_until(lambda: False, 0.5)
                heard = Heard(utt)
                mine = events[start:]
                heard.finals = [
                    e["text"] for _, e in mine if _is(e, "transcript", "user") and e["is_final"]
                ]
                times = [t for t, e in mine if _is(e, "transcript", "user") and not e["is_final"]]
                heard.interim_gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
                results.append(heard)
            task.cancel()
        history = (await http.get(f"/v1/conversations/{sid}")).json()["history"]
        await http.delete(f"/v1/conversations/{sid}")
    return results, history


def _is(e: dict[str, Any], kind: str, role: str) -> bool:
    return bool(e.get("type") == kind and e.get("role") == role)


def _speaking(events: list[tuple[float, dict[str, Any]]]) -> bool:
    starts = sum(1 for _, e in events if _is(e, "turn_start", "assistant"))
    ends = sum(1 for _, e in events if _is(e, "turn_end", "assistant"))
    return starts > ends


def pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q))) if values else None


def report(stt: str, sessions: int, heard: list[Heard], delays: list[float], cpu: float,
           speech_s: float, rss: tuple[float, float, float]) -> dict[str, Any]:  # fmt: skip
    out: dict[str, Any] = {"stt": stt, "sessions": sessions}
    for kind in ("espeak", "piper", "recording"):
        mine = [h for h in heard if h.utterance.kind == kind]
        if not mine:
            continue
        errors = words = 0
        for h in mine:
            e, n = wer(h.utterance.reference, " ".join(h.finals))
            errors, words = errors + e, words + n
        out[f"wer_{kind}"] = round(100 * errors / words, 1)
    gaps = [g for h in heard for g in h.interim_gaps]
    out["final_delay_ms_p50"] = pct(delays, 50)
    out["final_delay_ms_p95"] = pct(delays, 95)
    out["replies"] = len(delays)
    out["interim_gap_ms_p50"] = pct([1000 * g for g in gaps], 50)
    out["interims_per_utterance"] = round(
        statistics.mean(len(h.interim_gaps) + 1 if h.interim_gaps else 0 for h in heard), 1
    )
    out["cpu_s_per_speech_s"] = round(cpu / speech_s, 3)
    out["rss_mb_idle_peak_after"] = [round(x) for x in rss]
    return out


async def run(args: argparse.Namespace, utterances: list[Utterance]) -> dict[str, Any]:
    speech_s = sum(u.audio.size for u in utterances) / 16000 * args.sessions
    tmp = Path(tempfile.mkdtemp(prefix="parley-stt-bench-"))
    doubles = Doubles(0.05, stt=False, flag_dir=tmp)
    env = {"PARLEY_STT": args.stt, "PARLEY_TTS": "espeak"}
    server = ServerProcess(tmp, KEY, doubles.llm_url, extra_env=env)
    try:
        server.start()
        # a warm-up session loads the model
        await session(server.url, server.ws_url, utterances[:1])
        idle = sample_tree(server.pid, time.monotonic())
        peak = idle.rss_main_mb + idle.rss_children_mb
        stop = asyncio.Event()

        async def watch() -> None:
            nonlocal peak
            while not stop.is_set():
                s = sample_tree(server.pid, time.monotonic())
                peak = max(peak, s.rss_main_mb + s.rss_children_mb)
                await asyncio.sleep(0.5)

        watcher = asyncio.create_task(watch())
        outcomes = await asyncio.gather(
            *(session(server.url, server.ws_url, utterances) for _ in range(args.sessions))
        )
        stop.set()
        await watcher
        after = sample_tree(server.pid, time.monotonic())
        cpu = (after.cpu_main + after.cpu_children) - (idle.cpu_main + idle.cpu_children)
        heard = [h for results, _ in outcomes for h in results]
        delays = [
            float(t["metadata"]["latency"]["stt_final_ms"])
            - float(t["metadata"]["latency"]["end_of_turn_ms"])
            for _, history in outcomes
            for t in history
            if t["role"] == "assistant"
            and {"stt_final_ms", "end_of_turn_ms"} <= set(t.get("metadata", {}).get("latency", {}))
        ]
        rss = (
            idle.rss_main_mb + idle.rss_children_mb,
            peak,
            after.rss_main_mb + after.rss_children_mb,
        )
        result = report(args.stt, args.sessions, heard, delays, cpu, speech_s, rss)
        if args.show:
            for h in heard:
                print(
                    f"  [{h.utterance.kind}] {h.utterance.reference!r} -> {' | '.join(h.finals)!r}"
                )
        return result
    finally:
        server.stop()
        doubles.stop()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--stt", default="whisper", help="whisper | pocketsphinx")
    p.add_argument("--sessions", type=int, default=1)
    p.add_argument("--voices", default="espeak,piper")
    p.add_argument("--no-recordings", dest="recordings", action="store_false")
    p.add_argument("--limit", type=int, default=0, help="only the first N inputs")
    p.add_argument("--show", action="store_true", help="print every transcript")
    args = p.parse_args()
    utterances = inputs(args.voices.split(","), args.recordings)
    utterances = utterances[: args.limit] if args.limit else utterances
    print(json.dumps(asyncio.run(run(args, utterances))))


if __name__ == "__main__":
    main()
