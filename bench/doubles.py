"""The provider doubles, in a process of their own: `python -m bench.doubles <config json>`.

The LLM double (and, with `"stt": true`, the STT double) from `tests/doubles/`, on
127.0.0.1. Kept out of the benchmark client's process, so that neither slows the other
down through the GIL: the client's timestamps stay honest and the doubles answer on time.

Prints one JSON line with the base URLs once serving, then runs until stdin closes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.script import Responder


class Doubles:
    """Starts the doubles process; `llm_url`, `stt_url` (or None); `stop()`."""

    def __init__(self, llm_delay: float, stt: bool, flag_dir: Path) -> None:
        config = {"llm_delay": llm_delay, "stt": stt, "flag_dir": str(flag_dir)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.doubles", json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.stop()
            raise RuntimeError("the doubles process did not start")
        urls = json.loads(line)
        self.llm_url: str = urls["llm"]
        self.stt_url: str | None = urls.get("stt")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def _serve(config: dict[str, object]) -> int:
    from tests.doubles.llm_server import LLMServer
    from tests.doubles.stt_server import STTServer

    llm = LLMServer(
        Responder(Path(str(config["flag_dir"]))),
        first_token_delay=float(config["llm_delay"]),  # type: ignore[arg-type]
    )
    llm.start()
    stt = None
    urls = {"llm": llm.base_url}
    if config.get("stt"):
        stt = STTServer(default_text="can you help me with my order")
        stt.start()
        urls["stt"] = stt.base_url
    print(json.dumps(urls), flush=True)
    try:
        while sys.stdin.buffer.read(1):  # until the parent closes our stdin (or dies)
            pass
    except KeyboardInterrupt:
        pass
    llm.stop(wait=False)
    if stt is not None:
        stt.stop(wait=False)
    time.sleep(0.3)
    os._exit(0)  # the doubles' server threads are daemons; don't wait on them


if __name__ == "__main__":
    sys.exit(_serve(json.loads(sys.argv[1])))
