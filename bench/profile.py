"""Optional: sample the server (and its STT workers) with py-spy while the bench runs.

`--profile out.txt` records `py-spy record --format raw` (collapsed stacks) for a window
in the middle of the run; the summary lists where the samples fell: by process and by
leaf function. py-spy is not a dependency: it is looked up on PATH (or `--py-spy`).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path


def find_py_spy(explicit: str | None) -> str | None:
    if explicit:
        return explicit if Path(explicit).exists() else None
    return shutil.which("py-spy")


def start(py_spy: str, pid: int, seconds: int, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            py_spy,
            "record",
            "--pid",
            str(pid),
            "--subprocesses",
            "--nonblocking",
            "--format",
            "raw",
            "--rate",
            "50",
            "--duration",
            str(seconds),
            "-o",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


_FRAME = re.compile(r"^(.*) \((.*?):(\d+)\)$")


def _short(frame: str) -> str:
    m = _FRAME.match(frame)
    if not m:
        return frame[:80]
    func, path = m.group(1), m.group(2)
    parts = Path(path).parts
    tail = "/".join(parts[-2:]) if "parley" in parts or "site-packages" in parts else parts[-1]
    return f"{func} ({tail})"


def summarise(out: Path, top: int = 15) -> list[str]:
    try:
        lines = out.read_text(errors="replace").splitlines()
    except OSError:
        return [f"  profile: no output at {out}"]
    by_process: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in lines:
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        n = int(count_text)
        total += n
        frames = stack.split(";")
        procs = [f for f in frames if f.startswith("process ")]  # parent first, then child
        by_process["STT workers" if procs and "pocketsphinx" in procs[-1] else "server"] += n
        if "SmartTurn.predict" in stack:
            by_process["  of which Smart Turn"] += n
        elif "Listener.feed" in stack:
            by_process["  of which Listener.feed (Silero VAD)"] += n
        body = [f for f in frames if not f.startswith(("process ", "thread "))]
        if body:
            leaves[_short(body[-1])] += n
        for f in set(body):
            inclusive[_short(f)] += n
    if not total:
        return ["  profile: no samples"]
    out_lines = [
        f"  profile ({total} samples at 50 Hz, py-spy raw: {out}): "
        + f"server process {by_process['server'] / total:.0%} (Smart Turn "
        f"{by_process['  of which Smart Turn'] / total:.0%}, Listener.feed incl. Silero VAD "
        f"{by_process['  of which Listener.feed (Silero VAD)'] / total:.0%}), "
        f"STT workers {by_process['STT workers'] / total:.0%}"
    ]
    out_lines.append("    top leaf functions (self time):")
    out_lines += [f"      {v / total:5.1%}  {k}" for k, v in leaves.most_common(top)]
    interesting = (
        "feed_audio",
        "probability",
        "_send_loop",
        "_receive_loop",
        "predict",
        "synthesize_blocking",
        "_store_turn",
        "process_raw",
        "encode",
        "decode",
        "run_once",
        "send_bytes",
        "receive",
        "_read_messages",
    )
    picked = [(k, v) for k, v in inclusive.most_common() if k.split(" (")[0] in interesting]
    out_lines.append("    inclusive time of selected functions:")
    out_lines += [f"      {v / total:5.1%}  {k}" for k, v in picked[:top]]
    return out_lines
