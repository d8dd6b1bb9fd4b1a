"""The playground's JavaScript Player (pause, resume, flush), run with Node's test runner."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def test_player_pauses_resumes_and_flushes() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed (apt-get install nodejs)")
    out = subprocess.run(
        [node, "--test", str(HERE / "player.test.mjs")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "# pass 2" in out.stdout
