"""Where the embedded ONNX models live on disk.

Parley does not download models. The two small ones it needs ship inside wheels on PyPI:

- Silero VAD (MIT) — in `pipecat-ai` (`pipecat/audio/vad/data/silero_vad.onnx`), and in
  recent `faster-whisper` releases (`faster_whisper/assets/silero_vad_v6.onnx`).
- Smart Turn v3.2 (BSD-2) — in `pipecat-ai`
  (`pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx`).

`pipecat-ai` is installed with `pip install --no-deps pipecat-ai`: we only read its data
files and never import it (its own dependencies are not installed). The packages are found
with `importlib.util.find_spec`, which locates a top-level package without running it.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

SILERO_VAD = "silero_vad"
SMART_TURN = "smart_turn"

_PIPECAT_HINT = "pip install --no-deps pipecat-ai"


@dataclass(frozen=True)
class _Candidate:
    package: str  # top-level import name
    distribution: str  # name on PyPI
    relpath: str  # inside the package directory


# In order of preference. faster-whisper 1.0 shipped a Silero v4 file (h/c inputs) and
# 1.1 a split encoder/decoder pair; neither fits our (input, state, sr) contract, so only
# the single-file v5/v6 models are listed.
_CANDIDATES: dict[str, tuple[_Candidate, ...]] = {
    SILERO_VAD: (
        _Candidate("pipecat", "pipecat-ai", "audio/vad/data/silero_vad.onnx"),
        _Candidate("faster_whisper", "faster-whisper", "assets/silero_vad_v6.onnx"),
        _Candidate("faster_whisper", "faster-whisper", "assets/silero_vad_v5.onnx"),
    ),
    SMART_TURN: (
        _Candidate("pipecat", "pipecat-ai", "audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx"),
    ),
}

_PURPOSE = {
    SILERO_VAD: "voice activity detection (Silero VAD)",
    SMART_TURN: "end-of-turn detection (Smart Turn v3.2)",
}


class ModelNotFound(RuntimeError):
    """An embedded model file is not installed. The message says how to get it."""


@dataclass(frozen=True)
class ModelInfo:
    """What `parley doctor` reports about one model."""

    name: str
    purpose: str
    path: Path | None  # None when not found
    source: str | None  # the PyPI distribution it was found in
    size_bytes: int | None
    detail: str  # one line for humans: what it is, where it was found (or not)
    fix: str  # the command that installs it when missing, else ""


def _package_dirs(package: str) -> list[Path]:
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return []
    if spec is None or not spec.submodule_search_locations:
        return []
    return [Path(p) for p in spec.submodule_search_locations]


def _locate(name: str) -> tuple[Path, _Candidate] | None:
    for cand in _CANDIDATES[name]:
        for root in _package_dirs(cand.package):
            path = root / cand.relpath
            if path.is_file():
                return path, cand
    return None


def _hint(name: str) -> str:
    return (
        f"The {_PURPOSE[name]} model is not installed. It ships inside the pipecat-ai wheel; "
        f"install it without its dependencies: `{_PIPECAT_HINT}`"
    )


def _searched(name: str) -> str:
    return ", ".join(dict.fromkeys(c.distribution for c in _CANDIDATES[name]))


def find_model(name: str) -> Path:
    """The path of model `name` ("silero_vad" or "smart_turn").

    Raises `ModelNotFound` (saying how to install it) when no package ships it, and
    `ValueError` for a name Parley does not know.
    """
    if name not in _CANDIDATES:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(_CANDIDATES)}")
    found = _locate(name)
    if found is None:
        raise ModelNotFound(_hint(name))
    return found[0]


def describe_models() -> list[ModelInfo]:
    """Every model Parley can use: found or not, where, from which wheel."""
    infos = []
    for name in _CANDIDATES:
        purpose = _PURPOSE[name]
        found = _locate(name)
        if found is None:
            detail = f"{purpose}: not installed (looked in {_searched(name)})"
            infos.append(ModelInfo(name, purpose, None, None, None, detail, _PIPECAT_HINT))
            continue
        path, cand = found
        size = path.stat().st_size
        detail = f"{purpose}: {path} (from {cand.distribution}, {size / 1e6:.1f} MB)"
        infos.append(ModelInfo(name, purpose, path, cand.distribution, size, detail, ""))
    return infos
