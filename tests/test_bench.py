"""The voice benchmark (`bench/`): its arithmetic, and one short real run."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bench import procfs, report
from bench.client import TurnResult, _underruns
from bench.script import (
    LONG_PAUSED,
    LONG_PAUSES_MS,
    PAUSED,
    PAUSES_MS,
    Responder,
    session_script,
    system_prompt,
)
from tests.doubles.llm_server import ChatRequest, Text


def test_percentiles_ignore_missing_values() -> None:
    assert report.pct([None, 1.0, 2.0, 3.0, None], 50) == 2.0
    assert report.pct([10.0, 20.0], 95) == pytest.approx(19.5)
    assert report.pct([None], 50) is None


def test_underruns_count_only_audible_gaps() -> None:
    # 20 ms frames (320 samples at 16 kHz) arriving every 20 ms: no gap
    steady = [(i * 0.02, 320) for i in range(10)]
    assert _underruns(steady) == (0.0, 0)
    # the same, with a 100 ms hole after the fifth frame
    holed = [(t + (0.1 if i >= 5 else 0.0), n) for i, (t, n) in enumerate(steady)]
    total, count = _underruns(holed)
    assert count == 1 and total == pytest.approx(100, abs=1)


def test_overhead_subtracts_the_providers_and_the_wait() -> None:
    r = TurnResult(0, 0, "plain", "x", v2v_ms=1100.0, tts_ref_ms=5.0, vad_lag_ms=20.0)
    r.server = {
        "end_of_turn_ms": 750,
        "stt_final_ms": 770,
        "llm_first_token_ms": 1071,
        "llm_ttft_ms": 300,
        "tts_first_audio_ms": 1080,
        "first_audio_sent_ms": 1081,
    }
    assert report.overhead(r) == pytest.approx(1100 - 20 - 770 - 300 - 5)
    assert report.eot_from_speech_end(r) == 770
    st = report.stages(r)
    assert st["stt_after_eot"] == 20 and st["reply_setup"] == 1
    assert st["sent_to_client"] == pytest.approx(1100 - 1081 - 20)


def test_scripts_cover_every_pause_combination() -> None:
    seen = set()
    for session in range(len(PAUSED) * len(PAUSES_MS)):
        first_pause = next(t for t in session_script(session, 2) if t.kind == "pause")
        seen.add((first_pause.text, first_pause.pause_ms))
    assert len(seen) == len(PAUSED) * len(PAUSES_MS)
    kinds = [t.kind for t in session_script(0, 6)]
    assert kinds == ["plain", "pause", "plain", "barge", "pause", "plain"]


def test_the_pause_set_gives_each_session_every_sentence_and_long_pauses() -> None:
    for session in range(12):
        turns = session_script(session, 16, "pauses")
        assert [t.kind for t in turns] == ["pause", "plain"] * 8
        pauses = [t for t in turns if t.kind == "pause"]
        assert {t.text for t in pauses} == {first for first, _ in LONG_PAUSED}
        assert all(600 <= t.pause_ms <= 1200 for t in pauses)
    first = [session_script(s, 1, "pauses")[0] for s in range(32)]
    seen = {(t.text, t.pause_ms) for t in first}
    assert len(seen) == len(LONG_PAUSED) * len(LONG_PAUSES_MS)


def test_long_replies_are_asked_for_per_session(tmp_path: Path) -> None:
    responder = Responder(tmp_path / "flags")

    def ask(session: int) -> list[str]:
        req = ChatRequest(
            "m",
            [
                {"role": "system", "content": system_prompt(session)},
                {"role": "user", "content": "hello there"},
            ],
            None,
            True,
            {},
        )
        step = responder(req).steps[0]
        assert isinstance(step, Text)
        return list(step.pieces)

    assert ask(3) == ["You said: hello there. ", "What else? "]
    responder.want_long(3, True)
    assert len(ask(3)) > 5 and len(ask(4)) == 2
    responder.want_long(3, False)
    assert len(ask(3)) == 2


def test_procfs_reads_this_process() -> None:
    sample = procfs.sample_tree(os.getpid(), 0.0)
    assert sample.rss_main_mb > 10 and sample.cpu_main > 0 and sample.threads >= 1
    busy, total = procfs.machine_cpu()
    assert 0 < busy <= total


@pytest.mark.slow
def test_a_short_run_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """One session, one spoken question, against a real server process."""
    from bench.voice_bench import main
    from parley.engine.endpointing import EndpointPolicy

    out = tmp_path / "run.json"
    assert main(["--sessions", "1", "--turns", "1", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "voice-to-voice" in printed and "server overhead" in printed
    data = json.loads(out.read_text())
    (turn,) = data["turns"]
    assert turn["v2v_ms"] is not None and 300 < turn["v2v_ms"] < 10_000
    # the turn ends on the policy's silence, never sooner
    assert turn["server"]["end_of_turn_ms"] >= EndpointPolicy().fast_ms
    assert not turn["timed_out"] and turn["user_turns"] == 1
