"""Piper: voices listed from config files, the not-installed path, and pulling voices.

Listing needs only the `.onnx.json` configs (the `.onnx` must exist, not load). Pulls go to
a local HTTP double or to a refused port: these tests never touch the network. When the
`piper` package is installed, one test speaks for real with `data/tiny-piper.onnx`, a
stand-in model with the inputs and outputs of a Piper export (`data/make_tiny_piper.py`).
"""

from __future__ import annotations

import json
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from parley.providers.tts import piper
from parley.providers.tts.errors import TTSError
from parley.providers.tts.piper import (
    PiperTTS,
    find_voices,
    pull_piper_voice,
    read_voice_config,
    voice_urls,
)
from tests.doubles.tts_server import refused_port

DATA = Path(__file__).parent / "data"


def voice_config(
    code: str | None = "en_US",
    sample_rate: int = 22050,
    quality: str = "medium",
    dataset: str = "lessac",
    espeak: str = "en-us",
) -> dict[str, Any]:
    """A config shaped like the ones on the model hub (trimmed)."""
    config: dict[str, Any] = {
        "dataset": dataset,
        "audio": {"sample_rate": sample_rate, "quality": quality},
        "espeak": {"voice": espeak},
        "inference": {"noise_scale": 0.667, "length_scale": 1, "noise_w": 0.8},
        "phoneme_type": "espeak",
        "num_symbols": 256,
        "num_speakers": 1,
        "speaker_id_map": {},
        "piper_version": "1.0.0",
    }
    if code:
        family, region = code.split("_")
        config["language"] = {
            "code": code,
            "family": family,
            "region": region,
            "name_native": "English",
            "name_english": "English",
            "country_english": "United States",
        }
    return config


def add_voice(folder: Path, name: str, config: dict[str, Any] | str, model: bool = True) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    text = config if isinstance(config, str) else json.dumps(config)
    (folder / f"{name}.onnx.json").write_text(text, encoding="utf-8")
    if model:
        (folder / f"{name}.onnx").write_bytes(b"not really onnx")


@pytest.fixture
def voices_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "piper"
    add_voice(folder, "en_US-lessac-medium", voice_config())
    add_voice(folder, "de_DE-thorsten-high", voice_config(None, 22050, "high", "thorsten", "de"))
    add_voice(folder, "pt_BR-faber-medium", voice_config("pt_BR", 16000, dataset="faber"))
    add_voice(folder, "fr_FR-siwis-low", voice_config("fr_FR"), model=False)  # half-downloaded
    add_voice(folder, "broken-voice", "{not json")
    (folder / "README.txt").write_text("not a voice")
    return folder


def test_lists_voices_from_their_configs(voices_dir: Path) -> None:
    found = {v.name: v for v in find_voices(voices_dir)}
    assert list(found) == ["de_DE-thorsten-high", "en_US-lessac-medium", "pt_BR-faber-medium"]
    en = found["en_US-lessac-medium"].info()
    assert en.voice_id == "piper-en_US-lessac-medium"
    assert (en.language, en.locale, en.engine) == ("en", "en-us", "piper")
    assert en.name == "lessac (English, United States, medium)"
    assert en.engine_voice == "en_US-lessac-medium"
    assert found["en_US-lessac-medium"].sample_rate == 22050
    de = found["de_DE-thorsten-high"]  # no `language` block: from espeak.voice
    assert (de.language, de.locale, de.title) == ("de", "de", "thorsten (high)")
    pt = found["pt_BR-faber-medium"]
    assert (pt.language, pt.locale, pt.sample_rate) == ("pt", "pt-br", 16000)


def test_language_falls_back_to_the_file_name(tmp_path: Path) -> None:
    config = voice_config(None)
    del config["espeak"]
    add_voice(tmp_path, "es_MX-ald-medium", config)
    voice = read_voice_config(tmp_path / "es_MX-ald-medium.onnx.json")
    assert (voice.language, voice.locale) == ("es", "es-mx")


def test_not_a_voice_config(tmp_path: Path) -> None:
    add_voice(tmp_path, "x", {"audio": {}})
    with pytest.raises(ValueError, match="not a Piper voice config"):
        read_voice_config(tmp_path / "x.onnx.json")
    assert find_voices(tmp_path) == []
    assert find_voices(tmp_path / "missing") == []


def test_lists_voices_when_piper_is_installed(
    voices_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(piper, "piper_installed", lambda: True)
    ids = [v.voice_id for v in PiperTTS(voices_dir, bundled=False).voices()]
    assert ids == [
        "piper-de_DE-thorsten-high",
        "piper-en_US-lessac-medium",
        "piper-pt_BR-faber-medium",
    ]


async def test_without_piper_no_voices_and_a_clear_error(
    voices_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(piper, "piper_installed", lambda: False)
    tts = PiperTTS(voices_dir, bundled=False)
    assert tts.voices() == ()
    assert len(tts.found) == 3  # still seen, for `parley doctor`
    with pytest.raises(TTSError) as err:
        async for _ in tts.synthesize("Hello.", "piper-en_US-lessac-medium"):
            pass
    assert err.value.code == "tts_unavailable"
    assert "pip install 'parley-voice[piper]'" in err.value.message


async def test_piper_that_fails_to_import_is_unavailable(
    voices_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(piper, "piper_installed", lambda: True)
    monkeypatch.setitem(sys.modules, "piper", None)  # `from piper import …` now fails
    tts = PiperTTS(voices_dir, bundled=False)
    with pytest.raises(TTSError) as err:
        async for _ in tts.synthesize("Hello.", "piper-en_US-lessac-medium"):
            pass
    assert err.value.code == "tts_unavailable"
    assert "pip install 'parley-voice[piper]'" in err.value.message


async def test_unknown_voice(voices_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(piper, "piper_installed", lambda: True)
    with pytest.raises(TTSError) as err:
        async for _ in PiperTTS(voices_dir, bundled=False).synthesize(
            "Hello.", "piper-xx_XX-nobody-low"
        ):
            pass
    assert err.value.code == "tts_unknown_voice"
    assert "parley models pull piper-en_US-lessac-medium" in err.value.message


async def test_speaks_with_a_real_piper(tmp_path: Path) -> None:
    pytest.importorskip(
        "piper", reason="piper-tts not installed (pip install 'parley-voice[piper]')"
    )
    ids = {chr(c): [i + 3] for i, c in enumerate(range(0x20, 0x370))}
    ids.update({chr(c): [len(ids) + 3 + i] for i, c in enumerate(range(0x1D00, 0x1DC0))})
    ids.update({"_": [0], "^": [1], "$": [2]})
    config = voice_config("en_US", 16000, dataset="tiny") | {
        "num_symbols": max(v[0] for v in ids.values()) + 1,
        "phoneme_id_map": ids,
    }
    add_voice(tmp_path, "en_US-tiny-low", config)
    shutil.copy(DATA / "tiny-piper.onnx", tmp_path / "en_US-tiny-low.onnx")
    tts = PiperTTS(tmp_path, bundled=False)
    assert [v.voice_id for v in tts.voices()] == ["piper-en_US-tiny-low"]
    chunks = [c async for c in tts.synthesize("Hello there. How are you?", "piper-en_US-tiny-low")]
    assert len(chunks) == 2  # one per sentence, as they are made
    assert all(c.sample_rate == 16000 and c.samples.dtype == np.int16 for c in chunks)
    assert all(c.samples.size % 256 == 0 and np.abs(c.samples).max() > 10000 for c in chunks)
    again = PiperTTS(tmp_path, bundled=False)  # the model is loaded once per process
    assert [c async for c in again.synthesize("Hi.", "piper-en_US-tiny-low")]
    assert list(piper._loaded).count(tmp_path / "en_US-tiny-low.onnx") == 1


# --- pulling voices -----------------------------------------------------------------


def test_voice_urls_follow_the_hub_layout() -> None:
    model, config = voice_urls("en_US-lessac-medium")
    assert model == (
        "https://huggingface.co/rhasspy/piper-voices/resolve/main/"
        "en/en_US/lessac/medium/en_US-lessac-medium.onnx"
    )
    assert config == model + ".json"
    model, _ = voice_urls("en_GB-northern_english_male-medium", "http://mirror/")
    assert model == (
        "http://mirror/rhasspy/piper-voices/resolve/main/"
        "en/en_GB/northern_english_male/medium/en_GB-northern_english_male-medium.onnx"
    )
    with pytest.raises(ValueError, match="<lang>_<REGION>-<voice>-<quality>"):
        voice_urls("lessac")


def test_pull_offline_fails_clearly_and_leaves_nothing(tmp_path: Path) -> None:
    dest = tmp_path / "piper"
    start = time.monotonic()
    with pytest.raises(TTSError) as err:
        pull_piper_voice(
            "en_US-lessac-medium",
            dest,
            hub_url=f"http://127.0.0.1:{refused_port()}",
            progress=False,
        )
    assert time.monotonic() - start < 2
    assert err.value.code == "tts_download_failed"
    assert "could not reach the model hub" in err.value.message
    assert f"download the files by hand into {dest}" in err.value.message
    assert "en/en_US/lessac/medium/en_US-lessac-medium.onnx" in err.value.message
    assert list(dest.iterdir()) == []


class _Hub:
    """A model hub double: serves `files` (path → bytes) over HTTP; 404 otherwise."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.paths: list[str] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                hub.paths.append(self.path)
                body = hub.files.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hub() -> Iterator[_Hub]:
    prefix = "/rhasspy/piper-voices/resolve/main/en/en_US/lessac/medium/en_US-lessac-medium"
    server = _Hub(
        {
            f"{prefix}.onnx": b"\x08" * 300_000,
            f"{prefix}.onnx.json": json.dumps(voice_config()).encode(),
        }
    )
    yield server
    server.close()


def test_pull_downloads_both_files_with_progress(
    tmp_path: Path, hub: _Hub, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "piper"
    path = pull_piper_voice("en_US-lessac-medium", dest, hub_url=hub.url)
    assert path == dest / "en_US-lessac-medium.onnx"
    assert path.stat().st_size == 300_000
    assert sorted(p.name for p in dest.iterdir()) == [
        "en_US-lessac-medium.onnx",
        "en_US-lessac-medium.onnx.json",
    ]
    assert [v.voice_id for v in find_voices(dest)] == ["piper-en_US-lessac-medium"]
    err = capsys.readouterr().err
    assert "en_US-lessac-medium.onnx  [########################] 100%  0.3/0.3 MB" in err
    # A second pull finds the files there and downloads nothing.
    hub.paths.clear()
    assert pull_piper_voice("en_US-lessac-medium", dest, hub_url=hub.url) == path
    assert hub.paths == []


def test_pull_of_an_unknown_voice_says_so(tmp_path: Path, hub: _Hub) -> None:
    with pytest.raises(TTSError) as err:
        pull_piper_voice("en_US-nobody-low", tmp_path, hub_url=hub.url, progress=False)
    assert "HTTP 404" in err.value.message
    assert "is the name right?" in err.value.message
    assert list(tmp_path.iterdir()) == []
