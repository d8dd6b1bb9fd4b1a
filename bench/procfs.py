"""CPU time and memory of a process tree, read from /proc (Linux; no psutil needed).

CPU is utime + stime of every live process in the tree, plus cutime + cstime of the
root (children it already reaped). Memory is VmRSS per process; the pocketsphinx
workers are separate `python -m` processes (not forks), so summing their RSS double
counts only shared libraries, not the Python heap.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int, tid: int | None = None) -> list[str] | None:
    path = f"/proc/{pid}/stat" if tid is None else f"/proc/{pid}/task/{tid}/stat"
    try:
        raw = Path(path).read_text()
    except OSError:
        return None
    # comm (field 2) may hold spaces and parentheses: split after its closing ')'.
    rest = raw[raw.rfind(")") + 2 :].split()
    return rest  # rest[0] is field 3 (state)


def cpu_seconds(pid: int, include_reaped: bool = False) -> float:
    f = _stat_fields(pid)
    if f is None:
        return 0.0
    ticks = int(f[11]) + int(f[12])  # utime, stime (fields 14, 15)
    if include_reaped:
        ticks += int(f[13]) + int(f[14])  # cutime, cstime
    return ticks / CLK_TCK


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def children(pid: int) -> list[int]:
    """Direct children, from /proc/<pid>/task/*/children (falls back to a /proc scan)."""
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            text = Path(f"/proc/{pid}/task/{task}/children").read_text()
            found.extend(int(c) for c in text.split())
        return found
    except OSError:
        pass
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            f = _stat_fields(int(entry))
            if f is not None and int(f[1]) == pid:
                found.append(int(entry))
    return found


def descendants(pid: int) -> list[int]:
    out: list[int] = []
    todo = children(pid)
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children(p))
    return out


def thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds per thread of `pid` (tid == pid is the main thread: the event loop)."""
    out: dict[int, float] = {}
    try:
        tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return out
    for tid in tids:
        f = _stat_fields(pid, tid)
        if f is not None:
            out[tid] = (int(f[11]) + int(f[12])) / CLK_TCK
    return out


@dataclass
class TreeSample:
    """One reading of the server's process tree."""

    t: float  # time.monotonic() of the reading
    cpu_main: float  # CPU seconds of the server process (with its reaped children)
    cpu_children: float  # CPU seconds of the live descendants (the STT workers)
    rss_main_mb: float
    rss_children_mb: float
    main_thread_cpu: float  # the event-loop thread alone
    threads: int
    child_pids: list[int] = field(default_factory=list)

    @property
    def cpu(self) -> float:
        return self.cpu_main + self.cpu_children

    @property
    def rss_mb(self) -> float:
        return self.rss_main_mb + self.rss_children_mb


def sample_tree(pid: int, now: float) -> TreeSample:
    kids = descendants(pid)
    per_thread = thread_cpu(pid)
    return TreeSample(
        t=now,
        cpu_main=cpu_seconds(pid, include_reaped=True),
        cpu_children=sum(cpu_seconds(k) for k in kids),
        rss_main_mb=rss_mb(pid),
        rss_children_mb=sum(rss_mb(k) for k in kids),
        main_thread_cpu=per_thread.get(pid, 0.0),
        threads=len(per_thread),
        child_pids=kids,
    )


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # user nice system idle iowait irq softirq steal
    return (total - idle) / CLK_TCK, total / CLK_TCK
