"""The README's SDK quick starts, run as pasted against a live server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness import ServerThread

README = Path(__file__).resolve().parents[2] / "README.md"


def snippet(marker: str) -> str:
    text = README.read_text()
    match = re.search(rf"<!-- {marker} -->\n```python\n(.*?)```", text, re.S)
    assert match, f"no {marker} block in the README"
    return match.group(1)


@pytest.mark.parametrize("marker", ["quickstart-sync", "quickstart-async"])
def test_quick_start_runs_as_pasted(
    server: ServerThread, api_key: str, tmp_path: Path, marker: str
) -> None:
    script = tmp_path / "quickstart.py"
    script.write_text(snippet(marker))
    env = {**os.environ, "PARLEY_BASE_URL": server.url, "PARLEY_API_KEY": api_key}
    out = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "user: What should I see first in Paris?" in out.stdout
    assert "assistant: You said: What should I see first in Paris" in out.stdout
    if marker == "quickstart-sync":
        assert (tmp_path / "reply.wav").stat().st_size > 16000
