"""scripts/install.sh checks its interpreter before making the venv: missing, too old, or
without venv, it says what to install on Debian/Ubuntu and how to pick another (PYTHON=).

Run on a copy of the script in an empty folder (no .venv), with fake interpreters that
answer as an old Python or one without ensurepip would.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "install.sh"


def run_install(tmp_path: Path, python: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "scripts").mkdir(exist_ok=True)
    shutil.copy(SCRIPT, tmp_path / "scripts" / "install.sh")
    return subprocess.run(
        ["bash", str(tmp_path / "scripts" / "install.sh")],
        env={"PATH": "/usr/bin:/bin", "PYTHON": python},
        capture_output=True,
        text=True,
        timeout=60,
    )


def fake_python(tmp_path: Path, name: str, version: tuple[int, int], has_venv: bool) -> str:
    """A real interpreter made to report `version`, and to lack ensurepip if asked."""
    path = tmp_path / name
    fake = f"""import sys
sys.version_info = {version + (0, "final", 0)!r}
if not {has_venv!r}:
    sys.modules["ensurepip"] = None
"""
    (tmp_path / f"{name}_site.py").write_text(fake)
    path.write_text(
        f'#!/bin/sh\nexec {sys.executable} -c "import runpy, sys; '
        f"runpy.run_path('{tmp_path / f'{name}_site.py'}'); "
        f'exec(sys.argv[2])" -c "$2"\n'
    )
    path.chmod(0o755)
    return str(path)


def test_missing_python_says_what_to_install(tmp_path: Path) -> None:
    out = run_install(tmp_path, "python3.99-nowhere")
    assert out.returncode == 1
    assert "no 'python3.99-nowhere' here; Parley needs Python 3.11+" in out.stderr
    assert "sudo apt-get install python3.11 python3.11-venv" in out.stderr
    assert "PYTHON=python3.11 ./scripts/install.sh" in out.stderr
    assert not (tmp_path / ".venv").exists()


def test_old_python_is_refused_before_any_venv(tmp_path: Path) -> None:
    out = run_install(tmp_path, fake_python(tmp_path, "py39", (3, 9), has_venv=True))
    assert out.returncode == 1
    assert "is Python 3.9; Parley needs 3.11+" in out.stderr
    assert "sudo apt-get install python3.11 python3.11-venv" in out.stderr
    assert not (tmp_path / ".venv").exists()


def test_python_without_venv_names_its_package(tmp_path: Path) -> None:
    out = run_install(tmp_path, fake_python(tmp_path, "py312", (3, 12), has_venv=False))
    assert out.returncode == 1
    assert "(Python 3.12) cannot make a venv" in out.stderr
    assert "sudo apt-get install python3.12-venv" in out.stderr
    assert not (tmp_path / ".venv").exists()
