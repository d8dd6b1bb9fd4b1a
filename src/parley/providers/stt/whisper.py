"""faster-whisper (CTranslate2 Whisper): accurate, multilingual, optional.

Installed with `pip install 'parley-voice[whisper]'`; this module imports without it and says
so with `STTError("stt_unavailable")` when used.

Models (`PARLEY_WHISPER_MODEL`): a size (`base`, `small`, `large-v3`, ...; default
`base`), a Hugging Face repo id of a CTranslate2 conversion, or the path of a converted
model directory. Sizes and repo ids are looked up in the Hugging Face cache under
`<data dir>/models/whisper` (where `parley models pull whisper-<size>` puts them) and
downloaded there on first use if the hub can be reached; `HF_HUB_OFFLINE=1` forbids that.

Whisper is not a streaming recogniser: the utterance is transcribed on `finish()`, in a
thread (CTranslate2 releases the GIL), so its decode time is on the latency path. With
`partial_interval` set, the utterance so far is re-decoded every that many seconds to
give interim transcripts (costly: each is a full decode).
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from parley.providers.stt.base import (
    PartialCallback,
    STTError,
    Transcript,
    check_samples,
    primary_language,
    supports_language,
)

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'parley-voice[whisper]'"
DEFAULT_MODEL = "base"
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
    """The model's directory if it is on disk (no network); None if it is not."""
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


class WhisperSTT:
    """faster-whisper on the CPU (int8). The model loads once, on first use, and is shared."""

    name = "whisper"
    languages: frozenset[str] | None = None  # Whisper handles ~100 languages

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        models_dir: Path | None = None,
        beam_size: int = 1,
        cpu_threads: int = 0,
        parallel: int = 1,
        partial_interval: float | None = None,
        compute_type: str = "int8",
    ) -> None:
        self.model = model
        self.models_dir = models_dir or default_models_dir()
        self.beam_size = beam_size
        self.cpu_threads = cpu_threads
        self.parallel = max(1, parallel)
        self.partial_interval = partial_interval
        self.compute_type = compute_type
        self._whisper: Any = None
        self._load_lock = asyncio.Lock()
        self._executor: ThreadPoolExecutor | None = None

    def supports(self, language: str) -> bool:
        return supports_language(self.languages, language)

    async def load(self) -> None:
        """Load the model (in a thread). Raises STTError saying what to do if it cannot."""
        async with self._load_lock:
            if self._whisper is not None:
                return
            if not whisper_installed():
                raise STTError(
                    "stt_unavailable", f"faster-whisper is not installed: {INSTALL_HINT}"
                )
            self._executor = self._executor or ThreadPoolExecutor(
                self.parallel, thread_name_prefix="whisper"
            )
            loop = asyncio.get_running_loop()
            self._whisper = await loop.run_in_executor(self._executor, self._load_blocking)

    def _load_blocking(self) -> Any:
        from faster_whisper import WhisperModel

        model = self.model
        if _is_path(model):
            path = Path(model).expanduser()
            if not (path / "model.bin").is_file():
                raise STTError(
                    "stt_model_missing",
                    f"PARLEY_WHISPER_MODEL={model} is not a CTranslate2 model directory "
                    "(no model.bin there)",
                )
            model = str(path)
        else:
            try:
                repo_for(model)
            except ValueError as exc:
                raise STTError("stt_misconfigured", f"PARLEY_WHISPER_MODEL: {exc}") from exc
        try:
            return WhisperModel(
                model,
                device="cpu",
                compute_type=self.compute_type,
                cpu_threads=self.cpu_threads,
                num_workers=self.parallel,
                download_root=str(self.models_dir),
            )
        except Exception as exc:  # hub errors, offline mode, a broken model directory
            if _is_path(self.model):
                raise STTError(
                    "stt_model_missing",
                    f"cannot load the faster-whisper model at {model}: {exc}",
                ) from exc
            raise STTError(
                "stt_model_missing",
                f"faster-whisper model {self.model!r} is not in {self.models_dir} and could "
                f"not be fetched ({type(exc).__name__}: {exc}); {_missing_hint(self.model)}",
            ) from exc

    async def open(self, language: str, on_partial: PartialCallback | None = None) -> WhisperStream:
        await self.load()
        return WhisperStream(self, language, on_partial)

    async def transcribe(self, samples: np.ndarray, language: str | None) -> str:
        """Transcribe int16 16 kHz `samples` in the model's thread pool."""
        await self.load()
        assert self._executor is not None
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._transcribe, samples, language)

    def _transcribe(self, samples: np.ndarray, language: str | None) -> str:
        audio = samples.astype(np.float32) / 32768.0
        lang = primary_language(language) if language and language != "auto" else None
        segments, _info = self._whisper.transcribe(
            audio,
            language=lang,
            beam_size=self.beam_size,
            condition_on_previous_text=False,
            without_timestamps=True,
            vad_filter=False,
        )
        return " ".join(s.text.strip() for s in segments).strip()

    async def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None
        self._whisper = None


class WhisperStream:
    """Buffers one utterance; transcribes it on `finish()` (and periodically, if asked)."""

    def __init__(
        self, provider: WhisperSTT, language: str, on_partial: PartialCallback | None
    ) -> None:
        self._provider = provider
        self.language = language
        self._on_partial = on_partial
        self._chunks: list[np.ndarray] = []
        self._partial = ""
        self._partial_task: asyncio.Task[None] | None = None
        self._closed = False

    def feed(self, samples: np.ndarray) -> None:
        if self._closed:
            raise STTError("stt_closed", "feed() on a closed stream")
        pcm = check_samples(samples)
        if pcm.size:
            self._chunks.append(pcm.copy())
            if self._provider.partial_interval and self._partial_task is None:
                self._partial_task = asyncio.get_running_loop().create_task(self._partials())

    @property
    def interim(self) -> bool:
        return bool(self._provider.partial_interval)

    def partial(self) -> str:
        return self._partial

    async def _partials(self) -> None:
        interval = self._provider.partial_interval or 1.0
        decoded = 0
        while not self._closed:
            await asyncio.sleep(interval)
            if not self._chunks or len(self._chunks) == decoded:
                continue
            decoded = len(self._chunks)
            chunks = self._chunks
            try:
                text = await self._provider.transcribe(np.concatenate(chunks), self.language)
            except STTError as exc:
                log.warning("whisper partial transcript failed: %s", exc)
                return
            if chunks is self._chunks and text != self._partial:  # same utterance still
                self._partial = text
                if self._on_partial is not None:
                    self._on_partial(Transcript(text))

    def _stop_partials(self) -> None:
        if self._partial_task is not None:
            self._partial_task.cancel()
            self._partial_task = None

    async def finish(self) -> str:
        if self._closed:
            raise STTError("stt_closed", "finish() on a closed stream")
        self._stop_partials()
        chunks, self._chunks, self._partial = self._chunks, [], ""
        if not chunks:
            return ""
        return await self._provider.transcribe(np.concatenate(chunks), self.language)

    async def cancel(self) -> None:
        self._stop_partials()
        self._chunks, self._partial = [], ""

    async def close(self) -> None:
        self._closed = True
        await self.cancel()
