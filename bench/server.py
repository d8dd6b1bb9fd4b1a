"""The Parley server under test, as its own process (`python -m parley serve`).

A separate process, so its CPU and memory can be read apart from the benchmark client
(which also hosts the LLM double). It listens on 127.0.0.1 only, keeps its SQLite file
and log in a temporary directory, and is stopped (SIGTERM, then SIGKILL) on exit, along
with any STT worker process it left behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench import procfs


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    def __init__(
        self,
        data_dir: Path,
        api_key: str,
        llm_base_url: str,
        log_level: str = "info",
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.api_key = api_key
        self.port = free_port()
        self.log_path = data_dir / "server.log"
        self._env = {
            **os.environ,
            "PARLEY_DATA_DIR": str(data_dir),
            "PARLEY_API_KEY": api_key,
            "PARLEY_LLM_BASE_URL": llm_base_url,
            "PARLEY_LLM_MODEL": "test-model",
            "PARLEY_LOG_LEVEL": log_level,
            "PARLEY_HOST": "127.0.0.1",
        }
        for name in (
            "PARLEY_DATABASE_URL",
            "PARLEY_STT",
            "PARLEY_STT_BASE_URL",
            "PARLEY_TTS",
            "PARLEY_TTS_BASE_URL",
        ):
            self._env.pop(name, None)  # the embedded providers and a fresh SQLite file
        self._env.update(extra_env or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_file: object | None = None
        self._known_children: set[int] = set()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> None:
        log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self._log_file = log
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "parley",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            env=self._env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited ({self.proc.returncode}); see {self.log_path}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server not healthy after {timeout:.0f} s; see {self.log_path}")

    def sample(self) -> procfs.TreeSample:
        s = procfs.sample_tree(self.pid, time.monotonic())
        self._known_children.update(s.child_pids)
        return s

    def stop(self) -> None:
        if self.proc is None:
            return
        self._known_children.update(procfs.descendants(self.proc.pid))
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        # STT workers run in their own sessions; the server closes them on shutdown, but
        # a killed server leaves them: end those we saw (only ours, by pid).
        for child in self._known_children:
            if Path(f"/proc/{child}").exists() and _is_python(child):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGKILL)
        if self._log_file is not None:
            self._log_file.close()  # type: ignore[attr-defined]
            self._log_file = None

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _is_python(pid: int) -> bool:
    try:
        return b"python" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
