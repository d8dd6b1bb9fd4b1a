"""Voice benchmark: scripted spoken conversations into N concurrent sessions of a real server.

    python -m bench.voice_bench --sessions 10 [--turns 6] [--llm-delay 0.3]
                                [--duration-min 0] [--json out.json] [--all-turns]

What runs: the Parley server as its own process (`python -m parley serve`, embedded
providers: Silero VAD, Smart Turn, pocketsphinx STT, espeak-ng TTS; SQLite in a temporary
directory), the OpenAI-compatible LLM double (`tests/doubles/llm_server.py`) with a fixed
first-token delay in a process of its own (`bench/doubles.py`; with `--stt double` the
STT double too), and N client sessions in this process (see bench/README.md). Every
session speaks its script (`bench/script.py`) in real time over
`ws://127.0.0.1:<port>/v1/conversations/{id}/stream` and keeps its microphone open
(silence) while the reply plays. Everything is on 127.0.0.1.

Definitions (all per user input; "speech end" = the client's send time of the last
non-silent 20 ms frame of the input; server figures come from `metadata.latency` of the
assistant turn in the history, measured from the server's own idea of speech end, its
last voiced VAD frame):

  VAD lag             how much later than the client the server puts speech end: the same
                      audio replayed through Silero on the server's frame grid
                      (`bench/vad_lag.py`); typically one or two 20 ms messages.
  end of turn (eot)   speech end → end of turn decided = server `end_of_turn_ms` + VAD lag.
                      This is the deliberate wait (VAD pause detection + the endpointing
                      policy: 200 / 600 / 1600 ms of silence, see engine/endpointing.py).
  user turn_end       client: speech end → `turn_end` role=user. NB the server announces
                      the user turn only when the reply's first sentence is about to be
                      spoken (speculative replies), so this is not the decision time.
  voice-to-voice      client: speech end → first reply audio frame received.
  server overhead     voice-to-voice − (VAD lag + stt_final_ms) − llm_ttft_ms − tts_ref_ms
                      − first_audio_hold_ms, where
                        stt_final_ms  server: speech end → final transcript (the end-of-turn
                                      wait plus what STT still needed after it);
                        llm_ttft_ms   server: LLM request sent → first token (the double's
                                      fixed delay plus HTTP; the double sends each
                                      sentence as one chunk, so the first token completes
                                      the first sentence);
                        tts_ref_ms    espeak-ng synthesis time of the reply's first sentence,
                                      measured in this process on an idle machine after
                                      the run (the provider's own cost, unloaded);
                        first_audio_hold_ms  server: how long the ready reply waited on
                                      purpose (speech that had just begun).
                      The stage breakdown printed under the summary splits the reply's
                      timeline: vad_lag, end_of_turn, stt_after_eot (STT finish after the
                      decision), reply_setup, llm_ttft, sentence_commit_tts (first token →
                      TTS first audio: the first sentence, storing + announcing the user
                      turn, the TTS queue and synthesis), token_to_user_end (first token →
                      user turn_end at the client), user_end_to_audio (user turn_end → first
                      audio at the client: TTS, pacing, socket), tts_to_sent, sent_to_client.
                      What remains is what the server adds beyond the providers and the
                      deliberate wait: sentence assembly, storing and announcing the user
                      turn, waiting for the (single) TTS thread behind other sessions,
                      resampling, pacing, the socket and event-loop delays (on either
                      side: the client's own lateness shows under "client timing").
  barge-in stop       interjection onset (send time of its first non-silent frame) → the
                      last reply audio frame received before `interrupted`; also onset →
                      the `interrupted` event. The server needs `vad_start_ms` (128 ms) of
                      speech to confirm a barge-in, so ~150 ms is its floor by design.
  cut-off             a "pause" turn the server split: more than one stored user turn for
                      the sentence, or reply audio that arrived while the second half
                      was being sent (the assistant answered the first half over the
                      user). An early decision taken back (speech resumed before the
                      reply's first audio: same turn) is not a cut-off; the server log
                      counts those ("same turn" below).
  audio gaps          underruns if the client played reply audio as it arrived (the
                      server's 200 ms lead is the only buffer): total ms per reply.
  CPU / memory        /proc of the server process and its STT worker processes: CPU
                      seconds per session-minute (session-minutes = sum of the sessions'
                      connected time), RSS (VmRSS) per live session, and with
                      --duration-min RSS at start/middle/end of the run.

Targets printed beside the figures: overhead ≤ 15 ms p50 at 50 sessions; end of turn
≤ 300 ms p50 with no cut-off on the pause set; barge-in stop ≤ 200 ms p95; no memory
growth over a 10-minute run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench import profile, report
from bench.client import ClientStats, SessionClient, SessionOutcome, TurnResult
from bench.doubles import Doubles
from bench.procfs import TreeSample, cpu_seconds, machine_cpu
from bench.script import (
    LONG_REPLY,
    Responder,
    Turn,
    all_sentences,
    session_script,
    speech,
)
from bench.server import ServerProcess
from bench.vad_lag import VADLag

TARGET_OVERHEAD_MS = 15
TARGET_EOT_MS = 300
TARGET_BARGE_MS = 200


@dataclass
class Run:
    args: argparse.Namespace
    outcomes: list[SessionOutcome] = field(default_factory=list)
    samples: list[TreeSample] = field(default_factory=list)
    idle_before: TreeSample | None = None  # after start-up and one warm-up turn
    idle_after: TreeSample | None = None  # all sessions closed and deleted
    active_from: float = 0.0
    active_to: float = 0.0
    loop_until: float = 0.0  # --duration-min: no new session starts after this
    client_cpu_s: float = 0.0
    doubles_pid: int = 0
    doubles_cpu_s: float = 0.0  # the LLM (and STT) doubles' process, whole run
    machine_busy_s: float = 0.0  # all processes on the machine, during the sessions
    machine_total_s: float = 0.0
    stats: ClientStats = field(default_factory=ClientStats)
    log_path: Path | None = None

    @property
    def results(self) -> list[TurnResult]:
        return [r for o in self.outcomes for r in o.results]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.voice_bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--sessions", type=int, default=5, help="concurrent sessions (default 5)")
    p.add_argument("--turns", type=int, default=6, help="scripted turns per session (6)")
    p.add_argument("--llm-delay", type=float, default=0.3, help="LLM first-token delay, s")
    p.add_argument(
        "--duration-min",
        type=float,
        default=0.0,
        help="run sessions in a loop for M minutes (0: one pass)",
    )
    p.add_argument(
        "--stagger",
        type=float,
        default=None,
        help="spread session starts over S seconds (default 8: about one turn, so the "
        "sessions' turns are out of step, as independent users are; 0: all at once)",
    )
    p.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="record the server with py-spy (collapsed stacks) to this file mid-run",
    )
    p.add_argument("--py-spy", default=None, help="path of the py-spy binary (default: PATH)")
    p.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        help="first wait up to S seconds for the machine to be idle (< 15%% busy over 5 s): "
        "other work on the machine skews every figure",
    )
    p.add_argument("--json", type=Path, default=None, help="write raw per-turn figures here")
    p.add_argument("--all-turns", action="store_true", help="print every turn's row")
    p.add_argument(
        "--stt",
        choices=("pocketsphinx", "whisper", "double"),
        default="pocketsphinx",
        help="pocketsphinx: the embedded fallback recogniser (default, as in the figures so "
        "far); whisper: the server's default, streaming faster-whisper with the bundled "
        "tiny.en; double: the OpenAI-compatible "
        "STT double (tests/doubles/stt_server.py) in this process, which answers at once, "
        "so the server's own cost shows without pocketsphinx's (no partial transcripts: "
        "every end-of-turn decision waits the normal 750 ms)",
    )
    p.add_argument(
        "--llm",
        choices=("double", "embedded"),
        default="double",
        help="double: the LLM double with --llm-delay (default); embedded: the server's "
        "own embedded model (PARLEY_LLM=embedded), so the figures include real generation",
    )
    p.add_argument(
        "--set",
        choices=("default", "pauses"),
        default="default",
        help="default: plain, pause (300-600 ms) and barge-in turns; pauses: the "
        "turn-taking set, mid-sentence pauses of 0.6-1.2 s after words that cannot end a "
        "sentence alternating with plain questions (bench/script.py LONG_PAUSED)",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--keep", action="store_true", help="keep the server's temp dir and log")
    p.add_argument(
        "--max-wall",
        type=float,
        default=None,
        help="hard limit on the sessions' wall time, s (default: estimated)",
    )
    args = p.parse_args(argv)
    if args.sessions < 1 or args.turns < 1:
        p.error("--sessions and --turns must be at least 1")
    if args.stagger is None:
        args.stagger = 8.0 if args.sessions > 1 else 0.0
    return args


# --- running ------------------------------------------------------------------------


async def _sample_forever(server: ServerProcess, run: Run, stop: asyncio.Event) -> None:
    while not stop.is_set():
        with contextlib.suppress(Exception):
            run.samples.append(await asyncio.to_thread(server.sample))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


async def _slot(
    slot: int,
    server: ServerProcess,
    key: str,
    responder: Responder,
    run: Run,
    http: httpx.AsyncClient,
    start_delay: float,
    loop_until: float,
    hard_deadline: float,
) -> None:
    """One concurrent session; with --duration-min, a new session after each one ends."""
    rng = random.Random(run.args.seed * 1000 + slot)
    n = run.args.sessions
    k = 0
    while True:
        index = slot + k * n
        client = SessionClient(
            index,
            server.url,
            server.ws_url,
            key,
            responder,
            session_script(index, run.args.turns, run.args.set),
            run.stats,
            rng,
        )
        outcome = SessionOutcome(index)
        run.outcomes.append(outcome)
        try:
            await client.run(http, start_delay if k == 0 else 0.3, hard_deadline, outcome)
        except Exception as exc:  # noqa: BLE001 - reported in the summary
            outcome.error = f"{type(exc).__name__}: {exc}"
        k += 1
        if time.monotonic() >= loop_until:
            return


async def _profile(server: ServerProcess, run: Run) -> None:
    """py-spy over the steady part of the run (after the staggered starts)."""
    args = run.args
    if args.profile is None:
        return
    py_spy = profile.find_py_spy(args.py_spy)
    if py_spy is None:
        print("--profile: py-spy not found (pip install py-spy)", file=sys.stderr)
        return
    await asyncio.sleep(args.stagger + 5)
    seconds = int(max(10, min(60, args.duration_min * 60 / 2 or args.turns * 5)))
    proc = profile.start(py_spy, server.pid, seconds, args.profile)
    try:
        await asyncio.to_thread(proc.wait, seconds + 30)
    finally:
        if proc.poll() is None:
            proc.terminate()
            await asyncio.to_thread(proc.wait, 10)


async def _warm_up(server: ServerProcess, key: str, responder: Responder) -> None:
    """One short turn, unmeasured: loads the STT workers' decoders, TTS, the LLM client."""
    client = SessionClient(
        10_000,
        server.url,
        server.ws_url,
        key,
        responder,
        [Turn("plain", "Hello, this is a warm up.")],
        ClientStats(),
        random.Random(0),
    )
    async with httpx.AsyncClient(timeout=30) as http:
        out = await client.run(http, 0.2, time.monotonic() + 60)
    if out.error or not out.results or out.results[0].v2v_ms is None:
        raise RuntimeError(f"warm-up turn failed: {out.error or out.results}")


async def run_sessions(args: argparse.Namespace) -> Run:
    run = Run(args)
    key = "prl_bench_" + secrets.token_hex(12)
    tmp = Path(tempfile.mkdtemp(prefix="parley-bench-"))
    responder = Responder(tmp / "flags")
    doubles: Doubles | None = None
    server: ServerProcess | None = None
    try:
        doubles = Doubles(args.llm_delay, args.stt == "double", responder.flag_dir)
        run.doubles_pid = doubles.pid
        extra: dict[str, str] = {"PARLEY_STT": args.stt, "PARLEY_TTS": "espeak"}
        if doubles.stt_url is not None:
            extra = {"PARLEY_STT": "openai", "PARLEY_STT_BASE_URL": doubles.stt_url}
        if args.llm == "embedded":  # the bundled GGUF on llama.cpp instead of the double
            extra["PARLEY_LLM"] = "embedded"
        server = ServerProcess(tmp, key, doubles.llm_url, extra_env=extra)
        run.log_path = server.log_path
        print(f"starting the server (log: {server.log_path}) …", file=sys.stderr)
        await asyncio.to_thread(server.start)
        await _warm_up(server, key, responder)
        await asyncio.sleep(1.0)
        run.idle_before = server.sample()
        stop = asyncio.Event()
        sampler = asyncio.create_task(_sample_forever(server, run, stop))
        spy = asyncio.create_task(_profile(server, run))
        watcher = asyncio.create_task(run.stats.watch_loop(stop))
        per_turn_s = 14.0  # generous: the barge turn is ~12 s at real time
        pass_s = args.stagger + args.turns * per_turn_s + 20
        loop_s = args.duration_min * 60
        # Turns are not started after `wall - 75` s; one in flight takes at most ~70 s.
        wall = args.max_wall or (max(loop_s, 0) + pass_s + 80)
        t0 = time.monotonic()
        run.active_from = t0
        run.loop_until = t0 + loop_s
        client_cpu0 = cpu_seconds(os.getpid())
        doubles_cpu0 = cpu_seconds(doubles.pid)
        busy0, total0 = machine_cpu()
        limits = httpx.Limits(max_connections=args.sessions + 4)
        async with httpx.AsyncClient(timeout=30, limits=limits) as http:
            slots = [
                _slot(
                    i,
                    server,
                    key,
                    responder,
                    run,
                    http,
                    args.stagger * i / args.sessions,
                    t0 + loop_s,
                    t0 + max(10.0, wall - 75),
                )
                for i in range(args.sessions)
            ]
            print(
                f"running {args.sessions} session(s) × {args.turns} turns"
                + (f", looping for {args.duration_min} min" if loop_s else "")
                + f" (hard limit {wall:.0f} s) …",
                file=sys.stderr,
            )
            try:
                await asyncio.wait_for(asyncio.gather(*slots), timeout=wall)
            except TimeoutError:
                print("hard wall-time limit reached: sessions cut short", file=sys.stderr)
        run.active_to = time.monotonic()
        spy.cancel()
        await asyncio.gather(spy, return_exceptions=True)
        run.client_cpu_s = cpu_seconds(os.getpid()) - client_cpu0
        run.doubles_cpu_s = cpu_seconds(doubles.pid) - doubles_cpu0
        busy1, total1 = machine_cpu()
        run.machine_busy_s, run.machine_total_s = busy1 - busy0, total1 - total0
        await asyncio.sleep(2.0)  # deleted sessions released
        run.idle_after = server.sample()
        stop.set()
        await asyncio.gather(sampler, watcher, return_exceptions=True)
    finally:
        if server is not None:
            await asyncio.to_thread(server.stop)
        if doubles is not None:
            doubles.stop()
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            kept = Path(tempfile.gettempdir()) / "parley-bench-server.log"
            with contextlib.suppress(OSError):
                shutil.copy(tmp / "server.log", kept)
                run.log_path = kept
            shutil.rmtree(tmp, ignore_errors=True)
    return run


# --- after the run -------------------------------------------------------------------


def add_reference_figures(results: list[TurnResult]) -> None:
    """VAD lag per input; espeak-ng time on each reply's first sentence, here, unloaded
    (min of 2 runs); then the overhead."""
    from parley.engine.sentences import SentenceSplitter
    from parley.providers.tts.espeak import EspeakTTS

    lag = VADLag()
    for r in results:
        if r.final_text:
            r.vad_lag_ms = lag.lag_ms(
                r.final_text,
                speech(r.final_text),
                r.final_start_chunk,
                r.final_last_voiced_chunk,
            )
    tts = EspeakTTS()
    tts.synthesize_blocking("Warm up.", "espeak-en-us-female")
    cache: dict[str, float] = {}
    for r in results:
        text = LONG_REPLY if r.kind == "barge" else r.reply_text
        if not text:
            continue
        splitter = SentenceSplitter()
        first = next(iter(splitter.push(text + " ")), None) or splitter.flush()
        if first not in cache:
            times = []
            for _ in range(2):
                t = time.perf_counter()
                tts.synthesize_blocking(first, "espeak-en-us-female")
                times.append((time.perf_counter() - t) * 1000)
            cache[first] = min(times)
        r.tts_ref_ms = cache[first]
        r.overhead_ms = report.overhead(r)


def _during(run: Run) -> list[TreeSample]:
    return [s for s in run.samples if run.active_from <= s.t <= run.active_to]


def summarise(run: Run) -> dict[str, object]:
    args = run.args
    rs = run.results
    replies = [r for r in rs if r.kind != "barge"]  # the barge question's reply is cut
    measured = [r for r in rs if not r.timed_out]
    pauses = [r for r in rs if r.kind == "pause"]
    barges = [r for r in rs if r.kind == "barge"]
    plain = [r for r in rs if r.kind in ("plain", "interjection")]
    log = report.read_log(run.log_path) if run.log_path else report.LogFindings()
    during = _during(run)
    cores = os.cpu_count() or 1
    session_min = sum(max(0.0, o.ended - o.started) for o in run.outcomes if o.started) / 60
    wall = max(1e-9, run.active_to - run.active_from)
    out: dict[str, object] = {}
    lines: list[str] = []
    lines.append("")
    lines.append(
        f"Summary: {args.sessions} concurrent session(s), {len(run.outcomes)} run, "
        f"{len(rs)} inputs measured ({sum(r.timed_out for r in rs)} timed out), "
        + (
            "LLM embedded (llama.cpp), "
            if args.llm == "embedded"
            else f"LLM first-token delay {args.llm_delay * 1000:.0f} ms, "
        )
        + f"STT {args.stt}, {cores} cores, "
        f"wall {wall:.0f} s"
    )
    lines.append(
        f"  {'figure':<44} {'n':>4} {'p50':>7} {'p95':>7} {'max':>7}   {'target':<28} verdict"
    )
    eot = [report.eot_from_speech_end(r) for r in measured]
    ovh = [r.overhead_ms for r in measured]
    stop = [r.barge_stop_ms for r in barges if r.barge_exercised]
    evt = [r.barge_event_ms for r in barges if r.barge_exercised]
    cuts = sum(r.cutoff for r in pauses)
    rows: list[tuple[str, list[float | None], str, str]] = [
        (
            "end of turn decided after speech end (ms)",
            eot,
            f"≤ {TARGET_EOT_MS} p50",
            report.verdict(report.pct(eot, 50), TARGET_EOT_MS),
        ),
        (
            "  … as the server counts it (eot_ms)",
            [r.server.get("end_of_turn_ms") for r in measured],
            "",
            "",
        ),
        (
            "  … plain questions only",
            [report.eot_from_speech_end(r) for r in measured if r.kind == "plain"],
            "",
            "",
        ),
        (
            "  … pause sentences (after the 2nd half)",
            [report.eot_from_speech_end(r) for r in pauses if not r.timed_out],
            "",
            "",
        ),
        (
            "VAD lag: server's speech end − client's (ms)",
            [r.vad_lag_ms for r in measured],
            "",
            "",
        ),
    ]
    lines.extend(report.row(*row) for row in rows)
    lines.append(
        report.row(
            "user turn_end seen by client (ms)",
            [r.user_end_ms for r in measured],
            "(announced w/ 1st sentence)",
        )
    )
    lines.append(report.row("voice-to-voice (client, ms)", [r.v2v_ms for r in measured], ""))
    lines.append(
        report.row(
            "server overhead (ms)",
            ovh,
            f"≤ {TARGET_OVERHEAD_MS} p50 (at 50 sessions)",
            report.verdict(report.pct(ovh, 50), TARGET_OVERHEAD_MS),
        )
    )
    lines.append(
        report.row(
            "barge-in stop: last reply audio (ms)",
            stop,
            f"≤ {TARGET_BARGE_MS} p95",
            report.verdict(report.pct(stop, 95), TARGET_BARGE_MS),
        )
    )
    lines.append(report.row("barge-in stop: `interrupted` event (ms)", evt, ""))
    lines.append(
        report.row(
            "reply audio gaps (ms per reply)",
            [r.gap_ms for r in replies if r.v2v_ms is not None],
            "0",
        )
    )
    cut_verdict = "MET" if cuts == 0 and pauses else ("n/a" if not pauses else "MISSED")
    lines.append(
        f"  {'cut-offs on the pause set':<44} {len(pauses):>4} "
        f"{cuts:>7} {'':>7} {'':>7}   {'0':<28} {cut_verdict}"
    )
    split_plain = sum(1 for r in plain if r.user_turns > 1)
    lines.append(
        f"  {'plain inputs split in two or more turns':<44} {len(plain):>4} {split_plain:>7}"
    )
    late = sum(r.barge_late_frames for r in barges)
    lines.append(
        f"  {'barge-ins exercised / reply frames after it':<44} {len(barges):>4} "
        f"{len(stop):>7} {late:>7}"
    )
    # Stage breakdown (p50)
    st = [report.stages(r) for r in measured]
    names = list(st[0]) if st else []
    if names:
        lines.append(
            "  stage p50 / p95 (ms): "
            + ", ".join(
                f"{n}={report.fmt(report.pct((s[n] for s in st), 50))}"
                f"/{report.fmt(report.pct((s[n] for s in st), 95))}"
                for n in names
            )
            + f", tts_ref={report.fmt(report.pct((r.tts_ref_ms for r in measured), 50))}"
        )
    # Endpointing decisions from the server log
    if log.need_ms:
        mix = ", ".join(f"{k} ms ×{v}" for k, v in sorted(log.need_ms.items()))
        probs = log.probabilities
        lines.append(
            f"  end-of-turn decisions (server log): silence required {mix}; Smart Turn p "
            f"median {report.fmt(report.pct(probs, 50), 2)}, "
            f"≥0.8 in {sum(p >= 0.8 for p in probs)}/{len(probs)}; early decisions "
            f"taken back (same turn): {log.same_turn}; barge-ins: {log.barge_ins}"
        )
    # CPU and memory
    if during:
        first, last = during[0], during[-1]
        cpu = last.cpu - first.cpu
        loop_cpu = last.main_thread_cpu - first.main_thread_cpu
        span = max(1e-9, last.t - first.t)
        per_sm = cpu / session_min if session_min else None
        lines.append(
            f"  server CPU: {cpu:.1f} s over {span:.0f} s = {cpu / span * 100:.0f}% of one core "
            f"({cpu / span / cores * 100:.0f}% of {cores}); "
            f"{report.fmt(per_sm, 2)} CPU-s per session-minute; main process "
            f"{(last.cpu_main - first.cpu_main) / span * 100:.0f}% (event-loop thread "
            f"{loop_cpu / span * 100:.0f}%), STT workers "
            f"{(last.cpu_children - first.cpu_children) / span * 100:.0f}%"
        )
        lines.append(
            f"  client process ({args.sessions} sessions) CPU: {run.client_cpu_s:.1f} s "
            f"= {run.client_cpu_s / wall * 100:.0f}% of one core"
        )
        lines.append(
            f"  doubles process (LLM{' + STT' if args.stt == 'double' else ''}) CPU: "
            f"{run.doubles_cpu_s:.1f} s = {run.doubles_cpu_s / wall * 100:.0f}% of one core"
        )
        if run.machine_total_s:
            other = run.machine_busy_s - cpu - run.client_cpu_s - run.doubles_cpu_s
            lines.append(
                f"  machine: {run.machine_busy_s / run.machine_total_s * 100:.0f}% busy "
                f"({run.machine_busy_s / wall * 100:.0f}% of one core); other processes "
                f"(not this bench) {max(0.0, other) / wall * 100:.0f}% of one core"
            )
            out["machine_busy_pct"] = run.machine_busy_s / run.machine_total_s * 100
            out["other_load_core_pct"] = max(0.0, other) / wall * 100
        base = run.idle_before
        peak = max(during, key=lambda s: s.rss_mb)
        if base is not None:
            per = (peak.rss_mb - base.rss_mb) / args.sessions
            lines.append(
                f"  server RSS: idle {base.rss_mb:.0f} MB (main {base.rss_main_mb:.0f} + STT "
                f"workers {base.rss_children_mb:.0f}); peak {peak.rss_mb:.0f} MB "
                f"(main {peak.rss_main_mb:.0f} + workers {peak.rss_children_mb:.0f}) → "
                f"{per:.1f} MB per live session"
            )
            out["rss_per_session_mb"] = per
        if run.idle_after is not None and base is not None:
            n = len(run.outcomes)
            grow = run.idle_after.rss_mb - base.rss_mb
            lines.append(
                f"  server RSS idle after the run: {run.idle_after.rss_mb:.0f} MB "
                f"({grow:+.0f} MB vs before, {grow / max(1, n):+.2f} MB per session run; "
                f"main {run.idle_after.rss_main_mb - base.rss_main_mb:+.0f}, workers "
                f"{run.idle_after.rss_children_mb - base.rss_children_mb:+.0f})"
            )
        if args.duration_min > 0 and len(during) >= 3:
            lines.extend(_memory_over_time(run, during))
        out["cpu_s_per_session_minute"] = per_sm
    lag = list(run.stats.send_late_ms)
    loop = list(run.stats.loop_lag_ms)
    lines.append(
        f"  client timing: mic frame lateness p50/p99/max "
        f"{report.fmt(report.pct(lag, 50), 1)}/{report.fmt(report.pct(lag, 99), 1)}/"
        f"{report.fmt(max(lag) if lag else None, 0)} ms, loop lag p99 "
        f"{report.fmt(report.pct(loop, 99), 1)} ms, resyncs {run.stats.resyncs}"
    )
    errs = [f"session {o.index}: {o.error}" for o in run.outcomes if o.error]
    errs += [f"session {r.session} turn {r.turn}: {e}" for r in rs for e in r.errors]
    if errs:
        lines.append(f"  errors ({len(errs)}): " + "; ".join(errs[:5]))
    if log.errors or log.warnings:
        lines.append(
            f"  server log: {len(log.errors)} error line(s), "
            f"{sum(log.warnings.values())} warning(s)"
        )
        for w, c in log.warnings.most_common(3):
            lines.append(f"    ×{c} {w}")
        for e in log.errors[:3]:
            lines.append(f"    {e}")
    if run.log_path:
        lines.append(f"  server log: {run.log_path}")
    print("\n".join(lines))
    out.update(
        eot_p50=report.pct(eot, 50),
        overhead_p50=report.pct(ovh, 50),
        overhead_p95=report.pct(ovh, 95),
        v2v_p50=report.pct([r.v2v_ms for r in measured], 50),
        barge_stop_p95=report.pct(stop, 95),
        cutoffs=cuts,
        pause_turns=len(pauses),
        log_need_ms=dict(log.need_ms),
        same_turn=log.same_turn,
    )
    return out


def _memory_over_time(run: Run, during: list[TreeSample]) -> list[str]:
    """RSS at start (all sessions live), middle and end of a --duration-min run, and the
    trend (least-squares slope) over that steady part, main process and STT workers."""
    live_from = run.active_from + run.args.stagger + 10
    # all sessions live, before they start winding down
    steady = [s for s in during if live_from <= s.t <= run.loop_until] or during
    n = max(1, len(steady) // 10)

    def med(xs: list[TreeSample]) -> float:
        return statistics.median(s.rss_mb for s in xs)

    mid = len(steady) // 2
    start, middle, end = (
        med(steady[:n]),
        med(steady[mid - n // 2 : mid + n // 2 + 1]),
        med(steady[-n:]),
    )
    span_min = (steady[-1].t - steady[0].t) / 60

    def slope(samples: list[TreeSample], what: str) -> float:  # MB per minute
        if len(samples) < 3:
            return 0.0
        ts = [(x.t - samples[0].t) / 60 for x in samples]
        return statistics.linear_regression(ts, [getattr(x, what) for x in samples]).slope

    total = slope(steady, "rss_mb")
    # Allocators climb to a high-water mark first; growth that goes on shows in the
    # second half of the run, which is what the verdict looks at.
    late = steady[len(steady) // 2 :]
    late_total = slope(late, "rss_mb")
    main = slope(late, "rss_main_mb")
    workers = slope(late, "rss_children_mb")
    done = [o for o in run.outcomes if o.started >= live_from]
    per_session = (run.idle_before and (end - start) / max(1, len(done))) or 0.0
    # "No growth": less than one live session's worth (the footprint of a session) over
    # 10 minutes at the measured trend.
    footprint = (
        max(s.rss_mb for s in steady) - (run.idle_before.rss_mb if run.idle_before else 0)
    ) / max(1, run.args.sessions)
    verdict = "MET" if late_total * 10 < footprint else "MISSED"
    return [
        f"  RSS over the run (median of {n} samples each): start {start:.0f} MB, "
        f"middle {middle:.0f} MB, end {end:.0f} MB ({end - start:+.0f} MB in {span_min:.1f} min, "
        f"{per_session:+.2f} MB per session started in between, {len(done)})",
        f"  RSS trend: whole run {total:+.1f} MB/min; second half {late_total:+.1f} MB/min "
        f"(main {main:+.1f}, STT workers {workers:+.1f}) = {late_total * 10:+.0f} MB per 10 min; "
        f"target no growth (< one session's {footprint:.0f} MB per 10 min): {verdict}",
    ]


def wait_quiet(max_s: float, busy_limit: float = 0.15) -> float:
    """Wait (at most `max_s`) until the machine was < `busy_limit` busy for 5 s; returns
    the last 5 s busy fraction."""
    deadline = time.monotonic() + max_s
    while True:
        b0, t0 = machine_cpu()
        time.sleep(5)
        b1, t1 = machine_cpu()
        busy = (b1 - b0) / max(1e-9, t1 - t0)
        if busy < busy_limit or time.monotonic() >= deadline:
            return busy
        print(f"machine {busy:.0%} busy (other work); waiting …", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.wait_quiet > 0:
        busy = wait_quiet(args.wait_quiet)
        print(f"machine {busy:.0%} busy before the run", file=sys.stderr)
    print("preparing speech …", file=sys.stderr)
    for sentence in sorted(all_sentences()):
        speech(sentence)
    run = asyncio.run(run_sessions(args))
    results = run.results
    add_reference_figures(results)
    results.sort(key=lambda r: (r.session, r.turn, r.kind == "interjection"))
    print()
    all_rows = args.all_turns or len(results) <= 60
    print("\n".join(report.per_turn_table(results, all_rows)))
    summary = summarise(run)
    if args.profile is not None and args.profile.exists():
        print("\n".join(profile.summarise(args.profile)))
    if args.json is not None:
        payload = {
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "cores": os.cpu_count(),
            "summary": summary,
            "turns": report.as_json(results),
            "sessions": [
                {
                    "index": o.index,
                    "session_id": o.session_id,
                    "started": o.started,
                    "ended": o.ended,
                    "error": o.error,
                }
                for o in run.outcomes
            ],
            "server_samples": report.as_json(run.samples),
        }
        args.json.write_text(json.dumps(payload, indent=1))
        print(f"\nraw figures: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
