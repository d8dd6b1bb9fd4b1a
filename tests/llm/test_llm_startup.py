"""Start-up with PARLEY_LLM_GGUF: a missing or corrupt file stops `parley serve` clearly;
`parley doctor` says which LLM runs, its size, context and measured speed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from parley.providers.llm.gguf import bundled_gguf_path
from tests.llm_fixtures import _require_llama


def run(args: list[str], data_dir: Path, timeout: float = 120, **env: str) -> tuple[int, str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    full.update({"PARLEY_DATA_DIR": str(data_dir), "PARLEY_API_KEY": "prl_k_0123456789", **env})
    proc = subprocess.run(
        [sys.executable, "-m", "parley", *args, *(["--port", "0"] if args == ["serve"] else [])],
        env=full,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture(autouse=True)
def _llama() -> None:
    _require_llama()


def test_a_missing_gguf_stops_the_server_with_a_clear_message(tmp_path: Path) -> None:
    missing = tmp_path / "models" / "llama-3-8b.gguf"
    code, out = run(["serve"], tmp_path, PARLEY_LLM_GGUF=str(missing))
    assert code != 0
    assert f"LLM: PARLEY_LLM_GGUF: the model file {missing} does not exist" in out, out


def test_a_corrupt_gguf_stops_the_server_with_a_clear_message(tmp_path: Path) -> None:
    bundled = bundled_gguf_path()
    assert bundled is not None
    truncated = tmp_path / "truncated.gguf"
    with bundled.open("rb") as f:
        truncated.write_bytes(f.read(1 << 20))  # a download cut short: the header, no weights
    code, out = run(["serve"], tmp_path, PARLEY_LLM_GGUF=str(truncated))
    assert code != 0
    assert f"LLM: llama.cpp could not load {truncated}" in out, out
    garbage = tmp_path / "page.gguf"
    garbage.write_text("<html>404</html>")
    code, out = run(["serve"], tmp_path, PARLEY_LLM_GGUF=str(garbage))
    assert code != 0 and "is not a GGUF model file" in out, out


def test_doctor_names_the_embedded_llm_its_size_context_and_speed(tmp_path: Path) -> None:
    code, out = run(["doctor"], tmp_path)
    line = next(x for x in out.splitlines() if "llm:" in x)
    assert line.startswith("✓ llm: embedded SmolLM2-135M-Instruct"), line
    assert "98 MB" in line and "context 2048 of 8192 tokens" in line and "tokens/s" in line
    code, out = run(["doctor"], tmp_path, PARLEY_LLM="openai")
    assert "✗ llm: PARLEY_LLM=openai but PARLEY_LLM_BASE_URL is not set" in out, out
