"""The `parley` command, run as a real process: serve, keys create, doctor; kill -9 survival."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

KEY = "prl_cli_test_key_abcdefghijklmnopqrstuvwxyz"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env_for(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    env.update({"PARLEY_DATA_DIR": str(data_dir), **extra})
    return env


def parley(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "parley", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@contextmanager
def serving(data_dir: Path, port: int, **extra: str) -> Iterator[subprocess.Popen[str]]:
    """`parley serve` in a child process. These tests are about the CLI, keys and start-up,
    not the models: the server gets the providers that load in a second (pocketsphinx,
    espeak-ng, no LLM) unless `extra` says otherwise; tests/llm/test_llm_startup.py and
    scripts/check-plain-install.sh start it on the embedded defaults."""
    light = {"PARLEY_STT": "pocketsphinx", "PARLEY_TTS": "espeak", "PARLEY_LLM": "openai"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "parley", "serve", "--port", str(port)],
        env=env_for(data_dir, **{**light, **extra}),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            proc.kill()
            raise AssertionError(f"server did not start: {proc.communicate()[0]}")
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_keys_create_prints_a_working_key_last(tmp_path: Path) -> None:
    out = parley("keys", "create", "--name", "acme", env=env_for(tmp_path))
    assert out.returncode == 0, out.stderr
    key = out.stdout.strip().splitlines()[-1]
    assert key.startswith("prl_") and len(key) == 44
    port = free_port()
    with serving(tmp_path, port):
        r = httpx.get(
            f"http://127.0.0.1:{port}/v1/agents", headers={"Authorization": f"Bearer {key}"}
        )
        assert r.status_code == 200
    assert key not in (tmp_path / "parley.db").read_bytes().decode("latin-1")


def test_serve_reports_where_and_survives_kill_9(tmp_path: Path) -> None:
    port = free_port()
    auth = {"Authorization": f"Bearer {KEY}"}
    base = f"http://127.0.0.1:{port}"
    with serving(tmp_path, port, PARLEY_API_KEY=KEY) as proc:
        r = httpx.post(
            f"{base}/v1/conversations/create",
            headers=auth,
            json={"voice_id": "espeak-en-us-male", "system_prompt": "Remember me."},
        )
        sid = r.json()["session_id"]
        agent = httpx.post(
            f"{base}/v1/agents/create",
            headers=auth,
            json={"name": "A", "voice_id": "espeak-en-us-male", "system_prompt": "x"},
        ).json()["id"]
        proc.send_signal(signal.SIGKILL)
        output = proc.communicate(timeout=10)[0]
    assert f"http://127.0.0.1:{port}" in output
    assert str(tmp_path) in output
    assert "PARLEY_API_KEY" in output
    with serving(tmp_path, port, PARLEY_API_KEY=KEY):
        got = httpx.get(f"{base}/v1/conversations/{sid}", headers=auth).json()
        assert got["system_prompt"] == "Remember me."
        assert httpx.get(f"{base}/v1/agents/{agent}", headers=auth).status_code == 200


def test_first_run_without_a_key_mints_one(tmp_path: Path) -> None:
    port = free_port()
    with serving(tmp_path, port) as proc:
        proc.terminate()
        output = proc.communicate(timeout=10)[0]
    key = next(line.strip() for line in output.splitlines() if line.strip().startswith("prl_"))
    with serving(tmp_path, port):
        r = httpx.get(
            f"http://127.0.0.1:{port}/v1/voices", headers={"Authorization": f"Bearer {key}"}
        )
        assert r.status_code == 200


def test_doctor_names_what_to_set_for_the_llm(tmp_path: Path) -> None:
    out = parley("doctor", env=env_for(tmp_path, PARLEY_LLM="openai"))
    assert "espeak-ng" in out.stdout
    assert "PARLEY_LLM_BASE_URL" in out.stdout
    assert out.returncode == 1  # the LLM is missing
    ok = parley("doctor", env=env_for(tmp_path, PARLEY_LLM_BASE_URL="http://127.0.0.1:9/v1"))
    assert "http://127.0.0.1:9/v1" in ok.stdout
