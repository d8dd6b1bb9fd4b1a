"""faster-whisper without the extra, without its model, without the network.

Nothing here downloads a model. Which half runs depends on whether `parley-voice[whisper]` is
installed; the offline checks run for real (HF_HUB_OFFLINE=1, a refused mirror).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from parley.providers.stt.base import STTError
from parley.providers.stt.whisper import (
    WhisperSTT,
    local_model,
    pull_whisper_model,
    whisper_installed,
)
from tests.doubles.tts_server import refused_port

needs_whisper = pytest.mark.skipif(
    not whisper_installed(), reason="faster-whisper is not installed (parley-voice[whisper])"
)
without_whisper = pytest.mark.skipif(whisper_installed(), reason="faster-whisper is installed")

_LOAD_OFFLINE = """
import asyncio, sys
from pathlib import Path
from parley.providers.stt.whisper import WhisperSTT
from parley.providers.stt.base import STTError
try:
    asyncio.run(WhisperSTT("base", models_dir=Path(sys.argv[1])).load())
except STTError as e:
    print(e.code)
    print(e.message)
"""


@without_whisper
async def test_not_installed_says_how_to_install(tmp_path: Path) -> None:
    stt = WhisperSTT("base", models_dir=tmp_path)
    with pytest.raises(STTError) as err:
        await stt.open("en")
    assert err.value.code == "stt_unavailable"
    assert "pip install 'parley-voice[whisper]'" in err.value.message


@needs_whisper
def test_offline_without_the_model_says_what_to_do(tmp_path: Path) -> None:
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


@needs_whisper
async def test_model_path_that_is_not_a_model(tmp_path: Path) -> None:
    stt = WhisperSTT(str(tmp_path / "no-such-model"), models_dir=tmp_path)
    with pytest.raises(STTError) as err:
        await stt.open("en")
    assert err.value.code == "stt_model_missing"
    assert str(tmp_path / "no-such-model") in err.value.message


def test_pull_rejects_unknown_sizes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown whisper model 'huge'"):
        pull_whisper_model("huge", tmp_path)


def test_pull_without_network_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(STTError) as err:
        pull_whisper_model("base", tmp_path, endpoint=f"http://127.0.0.1:{refused_port()}")
    try:
        import huggingface_hub  # noqa: F401
    except ImportError:
        assert err.value.code == "stt_unavailable"
        return
    assert err.value.code == "stt_model_missing"
    assert "Systran/faster-whisper-base" in err.value.message
    assert "PARLEY_WHISPER_MODEL" in err.value.message
    assert not list(tmp_path.rglob("model.bin"))


def test_local_model_lookup_never_downloads(tmp_path: Path) -> None:
    assert local_model("base", tmp_path) is None
    converted = tmp_path / "my-ct2-model"
    converted.mkdir()
    assert local_model(str(converted), tmp_path) is None  # no model.bin
    (converted / "model.bin").write_bytes(b"")
    assert local_model(str(converted), tmp_path) == converted
