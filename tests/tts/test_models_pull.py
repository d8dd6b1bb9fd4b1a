"""`parley models pull`: names, offline failures, the whisper hand-off, and the CLI output."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from parley.cli import app
from parley.config import Settings, get_settings
from parley.models_pull import PullError, UnknownModel, pull
from tests.doubles.tts_server import refused_port

WHISPER = "parley.providers.stt.whisper"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, piper_voices_dir=None)


@pytest.fixture
def offline_hub(monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"http://127.0.0.1:{refused_port()}"
    monkeypatch.setenv("HF_ENDPOINT", url)
    return url


@pytest.mark.parametrize("name", ["nonsense", "piper-", "whisper", "kokoro-v1"])
def test_unknown_names_list_what_can_be_pulled(name: str, settings: Settings) -> None:
    with pytest.raises(UnknownModel) as err:
        pull(name, settings)
    assert isinstance(err.value, ValueError)
    assert "piper-<voice>" in err.value.message
    assert "whisper-<size>" in err.value.message


def test_malformed_piper_voice(settings: Settings) -> None:
    with pytest.raises(UnknownModel, match="not a Piper voice name"):
        pull("piper-lessac", settings)


def test_piper_offline(settings: Settings, offline_hub: str) -> None:
    with pytest.raises(PullError) as err:
        pull("piper-en_US-lessac-medium", settings)
    dest = settings.data_dir / "models" / "piper"
    assert "could not reach the model hub" in err.value.message
    assert offline_hub in err.value.message
    assert str(dest) in err.value.message


def test_whisper_without_the_provider(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, WHISPER, None)  # as if the module did not exist
    with pytest.raises(PullError, match="no faster-whisper speech-to-text provider"):
        pull("whisper-base", settings)


def test_whisper_hands_off_to_the_provider(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, Path]] = []

    def pull_whisper_model(size: str, dest: Path) -> Path:
        calls.append((size, dest))
        if size == "huge":
            raise ValueError("no whisper model 'huge'; sizes: tiny, base")
        return dest / size

    fake = types.ModuleType(WHISPER)
    fake.pull_whisper_model = pull_whisper_model  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, WHISPER, fake)
    dest = settings.data_dir / "models" / "whisper"
    assert pull("whisper-base", settings) == dest / "base"
    assert calls == [("base", dest)]
    with pytest.raises(UnknownModel, match="sizes: tiny, base"):
        pull("whisper-huge", settings)


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("PARLEY_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("PARLEY_PIPER_VOICES_DIR", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_cli_prints_errors_not_tracebacks(cli_env: None, offline_hub: str) -> None:
    runner = CliRunner()
    bad = runner.invoke(app, ["models", "pull", "nonsense"])
    assert bad.exit_code == 2
    assert "piper-<voice>" in bad.output
    offline = runner.invoke(app, ["models", "pull", "piper-en_US-lessac-medium"])
    assert offline.exit_code == 1
    assert "could not reach the model hub" in " ".join(offline.output.split())
    for result in (bad, offline):
        assert "Traceback" not in result.output
        assert isinstance(result.exception, SystemExit)
