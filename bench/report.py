"""Figures → tables: the per-turn table, the summary against targets, the JSON dump."""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.client import TurnResult
from parley.engine.endpointing import ends_unfinished


def pct(values: Iterable[float | None], q: float) -> float | None:
    """The q-th percentile (0-100, linear interpolation) of the non-None values."""
    xs = sorted(v for v in values if v is not None)
    if not xs:
        return None
    k = (len(xs) - 1) * q / 100
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def fmt(v: float | None, digits: int = 0) -> str:
    return "—" if v is None else f"{v:.{digits}f}"


# --- stage breakdown -----------------------------------------------------------------


def stages(r: TurnResult) -> dict[str, float | None]:
    """The reply's timeline, split into stages (ms). See voice_bench's docstring."""
    s = r.server
    e, stt, first, ttft = (
        s.get("end_of_turn_ms"),
        s.get("stt_final_ms"),
        s.get("llm_first_token_ms"),
        s.get("llm_ttft_ms"),
    )
    tts, sent = s.get("tts_first_audio_ms"), s.get("first_audio_sent_ms")

    def d(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else a - b

    setup = None if None in (first, stt, ttft) else first - stt - ttft  # type: ignore[operator]
    lag = r.vad_lag_ms or 0.0
    return {
        "vad_lag": r.vad_lag_ms,
        "end_of_turn": e,
        "stt_after_eot": d(stt, e),
        "reply_setup": setup,
        "llm_ttft": ttft,
        "sentence_commit_tts": d(tts, first),
        "token_to_user_end": None
        if r.user_end_ms is None or first is None
        else r.user_end_ms - lag - first,
        "user_end_to_audio": d(r.v2v_ms, r.user_end_ms),
        "tts_to_sent": d(sent, tts),
        "sent_to_client": None if r.v2v_ms is None or sent is None else r.v2v_ms - sent - lag,
    }


def eot_from_speech_end(r: TurnResult) -> float | None:
    """End of turn decided, counted from the client's speech end (server eot + VAD lag)."""
    e = r.server.get("end_of_turn_ms")
    return None if e is None else e + (r.vad_lag_ms or 0.0)


def overhead(r: TurnResult) -> float | None:
    """voice-to-voice − (VAD lag + stt_final_ms) − llm_ttft_ms − tts_ref_ms −
    first_audio_hold_ms (the deliberate wait of a ready reply for the speaking gap)."""
    s = r.server
    parts = (r.v2v_ms, s.get("stt_final_ms"), s.get("llm_ttft_ms"), r.tts_ref_ms)
    if any(p is None for p in parts):
        return None
    v2v, stt, ttft, tts = parts
    hold = s.get("first_audio_hold_ms") or 0.0
    return v2v - (r.vad_lag_ms or 0.0) - stt - ttft - tts - hold  # type: ignore[operator]


# --- server log -----------------------------------------------------------------------

_EOT = re.compile(r"end of turn: p=(\S+) need=(\d+)ms speech=(\d+)ms")


@dataclass
class LogFindings:
    need_ms: Counter[int] = field(default_factory=Counter)
    probabilities: list[float] = field(default_factory=list)
    same_turn: int = 0  # "user went on: same turn" (an early decision taken back)
    barge_ins: int = 0
    warnings: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)


def read_log(path: Path) -> LogFindings:
    out = LogFindings()
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return out
    for line in lines:
        if m := _EOT.search(line):
            out.need_ms[int(m.group(2))] += 1
            if m.group(1) != "None":
                out.probabilities.append(float(m.group(1)))
        elif "user went on: same turn" in line:
            out.same_turn += 1
        elif "(barge-in)" in line:
            out.barge_ins += 1
        if line.startswith("WARNING"):
            out.warnings[re.sub(r"session=\S+ ", "", line)[:120]] += 1
        elif line.startswith(("ERROR", "CRITICAL")) or "Traceback" in line:
            out.errors.append(line[:200])
    return out


# --- printing -----------------------------------------------------------------------


def per_turn_table(results: Sequence[TurnResult], all_rows: bool) -> list[str]:
    head = (
        f"{'sess':>4} {'turn':>4} {'kind':<12} {'eot':>5} {'u_end':>6} {'v2v':>6} "
        f"{'ovh':>5} {'stt':>4} {'ttft':>5} {'tts':>4} {'b_stop':>6} {'b_evt':>6} "
        f"{'users':>5} {'gap':>4} {'lag':>4}  said / heard (~: heard words end unfinished)"
    )
    lines = ["Per turn (ms; eot/stt/ttft from the server's history, the rest on the client):", head]
    if all_rows:
        for r in results:
            stt = r.server.get("stt_final_ms")
            eot = r.server.get("end_of_turn_ms")
            flags = ("CUT " if r.cutoff else "") + ("TIMEOUT " if r.timed_out else "")
            heard = " | ".join(r.user_texts)
            if r.user_texts and ends_unfinished(r.user_texts[-1]):
                heard += " ~"
            lines.append(
                f"{r.session:>4} {r.turn:>4} {r.kind:<12} {fmt(eot):>5} {fmt(r.user_end_ms):>6} "
                f"{fmt(r.v2v_ms):>6} {fmt(r.overhead_ms):>5} "
                f"{fmt(None if stt is None or eot is None else stt - eot):>4} "
                f"{fmt(r.server.get('llm_ttft_ms')):>5} {fmt(r.tts_ref_ms):>4} "
                f"{fmt(r.barge_stop_ms):>6} {fmt(r.barge_event_ms):>6} {r.user_turns:>5} "
                f"{fmt(r.gap_ms):>4} {fmt(r.vad_lag_ms):>4}  {flags}{r.label[:48]!r} → {heard!r}"
            )
        return lines
    # Many sessions: one row per script position (p50 over the sessions).
    by_pos: dict[tuple[int, str], list[TurnResult]] = {}
    for r in results:
        by_pos.setdefault((r.turn, r.kind), []).append(r)
    lines[0] = "Per script turn, p50 over sessions (ms; --all-turns for every turn):"
    lines[1] = head.replace("sess", "   n").rsplit("  said", 1)[0].replace(" lag", "") + "  cut/n"
    for (turn, kind), rs in sorted(by_pos.items()):
        stt_gap = [
            None
            if "stt_final_ms" not in r.server or "end_of_turn_ms" not in r.server
            else r.server["stt_final_ms"] - r.server["end_of_turn_ms"]
            for r in rs
        ]
        lines.append(
            f"{len(rs):>4} {turn:>4} {kind:<12} "
            f"{fmt(pct((r.server.get('end_of_turn_ms') for r in rs), 50)):>5} "
            f"{fmt(pct((r.user_end_ms for r in rs), 50)):>6} "
            f"{fmt(pct((r.v2v_ms for r in rs), 50)):>6} "
            f"{fmt(pct((r.overhead_ms for r in rs), 50)):>5} {fmt(pct(stt_gap, 50)):>4} "
            f"{fmt(pct((r.server.get('llm_ttft_ms') for r in rs), 50)):>5} "
            f"{fmt(pct((r.tts_ref_ms for r in rs), 50)):>4} "
            f"{fmt(pct((r.barge_stop_ms for r in rs), 50)):>6} "
            f"{fmt(pct((r.barge_event_ms for r in rs), 50)):>6} "
            f"{fmt(statistics.mean(r.user_turns for r in rs), 1):>5} "
            f"{fmt(pct((r.gap_ms for r in rs), 50)):>4}  "
            f"{sum(r.cutoff for r in rs)}/{len(rs)}"
        )
    return lines


def row(name: str, values: Sequence[float | None], target: str, verdict: str = "") -> str:
    xs = [v for v in values if v is not None]
    return (
        f"  {name:<44} {len(xs):>4} {fmt(pct(xs, 50)):>7} {fmt(pct(xs, 95)):>7} "
        f"{fmt(max(xs) if xs else None):>7}   {target:<28} {verdict}"
    )


def verdict(value: float | None, limit: float) -> str:
    if value is None:
        return "n/a"
    return "MET" if value <= limit else "MISSED"


def as_json(obj: Any) -> Any:
    if hasattr(obj, "__dataclass_fields__"):
        return {k: as_json(getattr(obj, k)) for k in obj.__dataclass_fields__}
    if isinstance(obj, dict):
        return {str(k): as_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [as_json(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
