"""One Whisper decode of a short utterance, and the pool of threads that runs them.

Whisper is trained on 30 s windows, and faster-whisper pads every input to 30 s: the
encoder then costs the same for a 2 s question as for 30 s of speech (1.8 s of CPU for
tiny.en int8 on this box, loaded). CTranslate2 takes shorter inputs, so a decode here
encodes the utterance rounded up to the next half second (with at least 0.3 s of silence
after it): 0.06 s for 2 s of audio, 0.14 s for 5 s, 0.43 s for 10 s. Text is the same on
the project's test sentences (see bench/README.md for the word error rates).

CTranslate2 releases the GIL while it encodes and decodes: with decodes running in a
thread, a 5 ms timer on the main thread woke 0.09 ms late (p50), 7 ms (p99). So decodes
run in a thread pool, not worker processes. The pool has a priority queue: final
transcripts (a user waiting for an answer) go before interim ones, which are dropped or
spaced out when the pool falls behind (see `whisper_stream.py`).

Guards against Whisper's hallucinations, on every decode: a text that starts over is cut
where it does (`unloop`), then the no-speech probability with a low average
log-probability (Whisper's own rule), a compression ratio above 2.4 (loops), and more
words than the audio can hold (5 a second, plus one) -- "Book a table for two at
seven." once came out as "Welcome to Final Four Two, and I'll see you next time".
"""

from __future__ import annotations

import heapq
import itertools
import logging
import re
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from parley.providers.stt.base import SAMPLE_RATE

log = logging.getLogger(__name__)

MAX_SECONDS = 28.0  # longer utterances are decoded by faster-whisper's own 30 s windows
_MIN_PAD_S = 0.3  # silence after the audio, at least (interim decodes)
_FINAL_PAD_S = 1.0  # for a decode that may be the final one
_ROUND_S = 0.5
_HOP = 160  # samples per mel frame
NO_SPEECH_PROB = 0.6
LOW_LOGPROB = -1.0
MAX_COMPRESSION = 2.4
WORDS_PER_SECOND = 5.0
FINAL_BEAM = 3  # beam width of a decode that may be final; interim ones are greedy
FINAL, INTERIM = 0, 1  # job priorities


@dataclass(frozen=True)
class Decoded:
    """A decode's text and the signals the guards read."""

    text: str
    samples: int  # audio decoded (without padding)
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0
    compression_ratio: float = 0.0
    rejected: str = ""  # why the text was thrown away, if it was
    final: bool = False  # decoded as a final one (beam, padding, no forced prefix)

    @property
    def words(self) -> list[str]:
        return self.text.split()


def compression_ratio(text: str) -> float:
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def _guard(text: str, seconds: float, logprob: float, no_speech: float) -> str:
    """Why `text` is a hallucination, or ""."""
    if no_speech > NO_SPEECH_PROB and logprob < LOW_LOGPROB:
        return f"no speech (p={no_speech:.2f}, avg logprob {logprob:.2f})"
    ratio = compression_ratio(text)
    if ratio > MAX_COMPRESSION:
        return f"repetitive (compression ratio {ratio:.2f})"
    words = len(text.split())
    if words > 1 + WORDS_PER_SECOND * seconds:
        return f"{words} words in {seconds:.1f} s of audio"
    return ""


_PUNCT = re.compile(r"[^\w']+")


def norm_word(word: str) -> str:
    """A word as local agreement compares it: lower case, no punctuation."""
    return _PUNCT.sub("", word.lower())


def unloop(text: str) -> str:
    """`text` up to where it starts over: a short window makes Whisper loop ("Hello? How
    can I help you today? Hello? How can I help you today? Hello? How can")."""
    words = text.split()
    normed = [norm_word(w) for w in words]
    for start in range(len(words)):
        shortest = 2 if start == 0 else 3  # later on, "no no" or "very very" is speech
        for period in range(shortest, (len(words) - start) // 2 + 1):
            if normed[start : start + period] == normed[start + period : start + 2 * period]:
                return " ".join(words[: start + period])
    return text


class WhisperDecoder:
    """A loaded CTranslate2 Whisper model (shared: one per process and model directory)."""

    def __init__(self, model_dir: Path, threads: int) -> None:
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import Tokenizer

        self.model_dir = model_dir
        self.model = WhisperModel(
            str(model_dir), device="cpu", compute_type="int8", cpu_threads=1, num_workers=threads
        )
        self.multilingual = bool(self.model.model.is_multilingual)
        self._tokenizer_cls = Tokenizer
        self._tokenizers: dict[str | None, Any] = {}
        self._lock = threading.Lock()

    def _tokenizer(self, language: str | None) -> Any:
        lang = language if self.multilingual else None
        with self._lock:
            if lang not in self._tokenizers:
                self._tokenizers[lang] = self._tokenizer_cls(
                    self.model.hf_tokenizer,
                    self.multilingual,
                    task="transcribe",
                    language=lang or ("en" if self.multilingual else None),
                )
            return self._tokenizers[lang]

    def decode(
        self,
        samples: np.ndarray,
        language: str | None,
        prefix: str = "",
        final: bool = False,
        previous: str = "",
    ) -> Decoded:
        """Transcribe int16 16 kHz `samples`; `prefix`: words already agreed on, forced.

        `previous`: the text of the utterance before these samples (context, not forced).
        `final`: the decode may give the final transcript (the user paused, or the turn
        ended): a beam of 3 and a second of silence after the audio. On the benchmark's
        22 espeak-ng sentences, greedy decodes with 0.3 s of padding had 17.8 % WER,
        with 1 s 15.7 %, and a beam of 3 with 1 s 8.1 %, for 2.3 times the CPU."""
        seconds = samples.size / SAMPLE_RATE
        if samples.size == 0:
            return Decoded("", 0)
        if seconds > MAX_SECONDS:
            return self._decode_long(samples, language)
        import ctranslate2

        audio = samples.astype(np.float32) / 32768.0
        pad = _FINAL_PAD_S if final else _MIN_PAD_S
        padded_s = max(1.0, np.ceil((seconds + pad) / _ROUND_S) * _ROUND_S)
        frames = int(padded_s * SAMPLE_RATE) // _HOP
        audio = np.pad(audio, (0, frames * _HOP - audio.size))
        features = self.model.feature_extractor(audio, padding=0)[:, :frames]
        tokenizer = self._tokenizer(language)
        prefix_ids = tokenizer.encode(" " + prefix.strip()) if prefix.strip() else []
        context = tokenizer.encode(" " + previous.strip())[-100:] if previous.strip() else []
        before = [tokenizer.sot_prev, *context] if context else []
        prompt = [*before, *tokenizer.sot_sequence, tokenizer.no_timestamps, *prefix_ids]
        limit = int(8 + 4 * WORDS_PER_SECOND * seconds)  # tokens: a generous ceiling
        result = self.model.model.generate(
            ctranslate2.StorageView.from_array(features[np.newaxis].astype(np.float32)),
            [prompt],
            beam_size=FINAL_BEAM if final else 1,
            max_length=len(prompt) + limit,
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=[-1],
        )[0]
        ids = [t for t in result.sequences_ids[0] if t < tokenizer.eot]
        text = unloop(tokenizer.decode(ids).strip())  # the result holds the forced prefix too
        logprob = float(result.scores[0]) if result.scores else 0.0
        no_speech = float(result.no_speech_prob)
        why = _guard(text, seconds, logprob, no_speech)
        if why:
            log.info("whisper: dropped %r: %s", text[:80], why)
        return Decoded(
            "" if why else text,
            samples.size,
            logprob,
            no_speech,
            compression_ratio(text),
            why,
            final,
        )

    def _decode_long(self, samples: np.ndarray, language: str | None) -> Decoded:
        segments, _info = self.model.transcribe(
            samples.astype(np.float32) / 32768.0,
            language=language if self.multilingual else "en",
            beam_size=1,
            condition_on_previous_text=False,
            without_timestamps=True,
            vad_filter=False,
            compression_ratio_threshold=MAX_COMPRESSION,
            log_prob_threshold=LOW_LOGPROB,
            no_speech_threshold=NO_SPEECH_PROB,
        )
        text = " ".join(s.text.strip() for s in segments).strip()
        return Decoded(text, samples.size, final=True)


@dataclass(order=True)
class _Job:
    priority: int
    seq: int
    work: Callable[[], None] = field(compare=False)


class DecodePool:
    """`threads` decode threads behind one priority queue (finals first, then FIFO).

    `submit()` never blocks. Callers keep at most one job per stream in flight, so the
    queue is bounded by the number of open streams; `backlog()` lets them slow down.
    """

    def __init__(self, threads: int) -> None:
        self.threads = max(1, threads)
        self._heap: list[_Job] = []
        self._cv = threading.Condition()
        self._seq = itertools.count()
        self._closed = False
        self._running = 0
        self._workers = [
            threading.Thread(target=self._run, name=f"whisper-{i}", daemon=True)
            for i in range(self.threads)
        ]
        for t in self._workers:
            t.start()

    def submit(self, priority: int, work: Callable[[], None]) -> None:
        with self._cv:
            if self._closed:
                raise RuntimeError("the whisper decode pool is closed")
            heapq.heappush(self._heap, _Job(priority, next(self._seq), work))
            self._cv.notify()

    def backlog(self) -> int:
        """Jobs waiting for a thread, beyond those running."""
        with self._cv:
            return len(self._heap)

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._heap and not self._closed:
                    self._cv.wait()
                if self._closed and not self._heap:
                    return
                job = heapq.heappop(self._heap)
                self._running += 1
            try:
                job.work()
            except Exception:  # work reports its own errors; this is a last resort
                log.exception("whisper decode job failed")
            finally:
                with self._cv:
                    self._running -= 1

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._heap.clear()
            self._cv.notify_all()
