"""Locating the embedded ONNX models."""

from __future__ import annotations

from pathlib import Path

import pytest

from parley.providers import models
from parley.providers.models import ModelNotFound, describe_models, find_model


def test_finds_both_models_in_the_pipecat_wheel() -> None:
    for name in (models.SILERO_VAD, models.SMART_TURN):
        path = find_model(name)
        assert path.is_file() and path.suffix == ".onnx"
        assert "pipecat" in path.parts


def test_unknown_model_name_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown model"):
        find_model("whisper")


def test_missing_model_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models, "_package_dirs", lambda package: [])
    with pytest.raises(ModelNotFound, match=r"pip install --no-deps pipecat-ai"):
        find_model(models.SMART_TURN)
    infos = {i.name: i for i in describe_models()}
    assert infos[models.SILERO_VAD].path is None
    assert infos[models.SILERO_VAD].fix == "pip install --no-deps pipecat-ai"
    assert "not installed" in infos[models.SMART_TURN].detail


def test_silero_falls_back_to_faster_whisper(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assets = tmp_path / "faster_whisper" / "assets"
    assets.mkdir(parents=True)
    (assets / "silero_vad_v6.onnx").write_bytes(b"onnx")
    dirs = {"faster_whisper": [tmp_path / "faster_whisper"]}
    monkeypatch.setattr(models, "_package_dirs", lambda package: dirs.get(package, []))
    assert find_model(models.SILERO_VAD) == assets / "silero_vad_v6.onnx"
    with pytest.raises(ModelNotFound):
        find_model(models.SMART_TURN)
    info = next(i for i in describe_models() if i.name == models.SILERO_VAD)
    assert info.source == "faster-whisper" and info.size_bytes == 4


def test_describe_models_for_doctor() -> None:
    infos = describe_models()
    assert [i.name for i in infos] == [models.SILERO_VAD, models.SMART_TURN]
    for info in infos:
        assert info.path is not None and info.path.is_file()
        assert info.source == "pipecat-ai"
        assert info.size_bytes is not None and info.size_bytes > 1_000_000
        assert info.fix == "" and str(info.path) in info.detail
