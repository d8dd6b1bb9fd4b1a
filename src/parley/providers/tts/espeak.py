"""espeak-ng text-to-speech, through the library bundled in the `espeakng-loader` wheel.

libespeak-ng keeps global state and is not thread-safe, so every call into it goes
through one lock, and synthesis runs on a single dedicated thread (the ctypes call
releases the GIL, so the event loop keeps running while it speaks).

Voices: every language voice espeak-ng ships, each offered as a male and a female
voice (the female one uses the `f3` variant). Voice ids read
`espeak-<language tag>-<female|male>`, e.g. `espeak-en-us-female`.
"""

from __future__ import annotations

import asyncio
import ctypes
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from parley.providers.tts.base import TTSChunk, VoiceInfo

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_INIT_DONT_EXIT = 0x8000
_PARAM_RATE = 1
_FEMALE_VARIANT = "f3"
_RAND_SEED = 1

ENGINE = "espeak"


class _EspeakVoice(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


_SYNTH_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


@dataclass(frozen=True)
class EspeakLanguageVoice:
    """One language voice of espeak-ng, as listed by the library."""

    name: str
    identifier: str
    tags: tuple[str, ...]  # language tags by priority, e.g. ("en-us", "en")


class _Library:
    """The process-wide handle on libespeak-ng. Use `library()`."""

    def __init__(self) -> None:
        import espeakng_loader

        self._lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self._lib.espeak_Initialize.restype = ctypes.c_int
        self._lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_EspeakVoice))
        self._lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self.lock = threading.Lock()
        data = espeakng_loader.get_data_path().encode()
        rate = self._lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data, _INIT_DONT_EXIT)
        if rate <= 0:
            raise RuntimeError("libespeak-ng failed to initialise")
        self.sample_rate = int(rate)
        self._chunks: list[np.ndarray] = []
        # Keep a reference so the callback is not garbage-collected.
        self._callback = _SYNTH_CALLBACK(self._on_audio)
        self._lib.espeak_SetSynthCallback(self._callback)

    def _on_audio(self, wav: ctypes._Pointer, count: int, _events: int) -> int:
        if count > 0 and wav:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        return 0

    def voices(self) -> list[EspeakLanguageVoice]:
        with self.lock:
            listed = self._lib.espeak_ListVoices(None)
            out: list[EspeakLanguageVoice] = []
            i = 0
            while listed[i]:
                v = listed[i].contents
                out.append(
                    EspeakLanguageVoice(
                        name=(v.name or b"").decode().strip(),
                        identifier=(v.identifier or b"").decode(),
                        tags=_parse_languages(v.languages),
                    )
                )
                i += 1
        return out

    def synthesize(self, text: str, voice: str, rate_wpm: int = 175) -> np.ndarray:
        """Speak `text` with espeak voice name `voice`; int16 samples at `sample_rate`."""
        data = text.encode("utf-8") + b"\0"
        with self.lock:
            if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise ValueError(f"espeak-ng has no voice {voice!r}")
            self._lib.espeak_SetParameter(_PARAM_RATE, rate_wpm, 0)
            # espeak-ng varies its voice with rand(); a fixed seed per call makes the same
            # text sound the same every time (reproducible tests, cacheable phrases).
            self._lib.espeak_ng_SetRandSeed(ctypes.c_long(_RAND_SEED))
            self._chunks = []
            err = self._lib.espeak_Synth(
                data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
            )
            chunks, self._chunks = self._chunks, []
        if err != 0:
            raise RuntimeError(f"espeak-ng synthesis failed (error {err})")
        if not chunks:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate(chunks).astype(np.int16)


def _parse_languages(ptr: int | None) -> tuple[str, ...]:
    """espeak's `languages` field: (priority byte, NUL-terminated tag) pairs, then a 0."""
    tags: list[tuple[int, str]] = []
    if not ptr:
        return ()
    while True:
        priority = ctypes.c_ubyte.from_address(ptr).value
        if priority == 0:
            break
        tag = ctypes.string_at(ptr + 1)
        tags.append((priority, tag.decode()))
        ptr += 2 + len(tag)
    return tuple(t for _, t in sorted(tags, key=lambda pt: pt[0]))


@lru_cache(maxsize=1)
def library() -> _Library:
    return _Library()


@lru_cache(maxsize=1)
def _executor() -> ThreadPoolExecutor:
    # One thread: libespeak-ng can only synthesise one text at a time per process.
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="espeak")


def iso_language(tags: tuple[str, ...]) -> str:
    """The conversation language a voice serves: its first two-letter primary subtag,
    else the primary subtag of its first tag (ISO 639-2/3 for languages without one)."""
    for tag in tags:
        primary = tag.split("-")[0]
        if len(primary) == 2:
            return primary
    return tags[0].split("-")[0] if tags else ""


@lru_cache(maxsize=1)
def catalogue() -> tuple[VoiceInfo, ...]:
    """Every espeak-ng voice Parley offers, in a stable order."""
    voices: list[VoiceInfo] = []
    seen: set[str] = set()
    for v in library().voices():
        if not v.tags or v.identifier.startswith(("mb/", "!")):
            continue
        tag = v.tags[0].lower()
        if tag in seen:
            continue
        seen.add(tag)
        for gender in ("female", "male"):
            variant = f"+{_FEMALE_VARIANT}" if gender == "female" else ""
            voices.append(
                VoiceInfo(
                    voice_id=f"{ENGINE}-{tag}-{gender}",
                    name=f"{v.name}, {gender}",
                    language=iso_language(v.tags),
                    locale=tag,
                    gender=gender,
                    engine=ENGINE,
                    engine_voice=f"{v.identifier}{variant}",
                )
            )
    return tuple(voices)


class EspeakTTS:
    """Streams speech for one sentence at a time from libespeak-ng."""

    name = ENGINE
    SAMPLE_RATE = 22050  # what libespeak-ng produces

    def __init__(self, rate_wpm: int = 175) -> None:
        self.rate_wpm = rate_wpm
        self._voices = {v.voice_id: v for v in catalogue()}

    @property
    def sample_rate(self) -> int:
        return library().sample_rate

    def voices(self) -> tuple[VoiceInfo, ...]:
        return catalogue()

    def synthesize_blocking(self, text: str, voice_id: str) -> np.ndarray:
        voice = self._voices.get(voice_id)
        if voice is None:
            raise ValueError(f"unknown espeak voice_id {voice_id!r}")
        return library().synthesize(text, voice.engine_voice, self.rate_wpm)

    async def synthesize(self, text: str, voice_id: str) -> AsyncIterator[TTSChunk]:
        loop = asyncio.get_running_loop()
        samples = await loop.run_in_executor(_executor(), self.synthesize_blocking, text, voice_id)
        if samples.size:
            yield TTSChunk(samples=samples, sample_rate=self.sample_rate)
