"""The embedded LLM's GGUF: found in its wheel, checked against the recorded SHA-256."""

from __future__ import annotations

from pathlib import Path

import pytest

from parley.config import Settings
from parley.providers.llm import gguf
from parley.providers.llm.choose import choose_llm
from parley.providers.llm.gguf import GGUFError, resolve_gguf, sha256_of


def test_the_bundled_model_is_found_and_verified() -> None:
    found = resolve_gguf(None)
    assert found.path.name == gguf.BUNDLED_FILE
    assert found.sha256 == gguf.BUNDLED_SHA256
    assert 90e6 < found.size_bytes < 110e6


def test_a_changed_bundled_file_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gguf, "BUNDLED_SHA256", "0" * 64)
    with pytest.raises(GGUFError) as caught:
        resolve_gguf(None)
    message = str(caught.value)
    assert "refuses to load it" in message and gguf.BUNDLED_INSTALL in message


def test_a_missing_custom_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(GGUFError, match="PARLEY_LLM_GGUF: the model file .* does not exist"):
        resolve_gguf(tmp_path / "nope.gguf")


def test_a_file_that_is_not_a_gguf_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "model.gguf"
    bad.write_bytes(b"<html>not a model</html>")
    with pytest.raises(GGUFError, match="is not a GGUF model file"):
        resolve_gguf(bad)
    with pytest.raises(GGUFError, match="is not a file"):
        resolve_gguf(tmp_path)


def test_a_pulled_file_is_checked_against_its_sidecar(tmp_path: Path) -> None:
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF" + bytes(100))
    sidecar = tmp_path / "m.gguf.sha256"
    sidecar.write_text(f"{sha256_of(model)}  m.gguf\n")
    assert resolve_gguf(model).sha256 == sha256_of(model)
    model.write_bytes(b"GGUF" + bytes(101))  # changed after the pull
    with pytest.raises(GGUFError, match="refuses to load it"):
        resolve_gguf(model)


def test_the_choice_follows_parley_llm(tmp_path: Path) -> None:
    assert choose_llm(Settings(data_dir=tmp_path)).kind == "embedded"
    url = "http://127.0.0.1:9/v1"
    assert choose_llm(Settings(data_dir=tmp_path, llm_base_url=url)).kind == "openai"
    forced = choose_llm(Settings(data_dir=tmp_path, llm_base_url=url, llm="embedded"))
    assert forced.kind == "embedded"
    none = choose_llm(Settings(data_dir=tmp_path, llm="openai"))
    assert none.kind == "none" and "PARLEY_LLM_BASE_URL" in none.fix
    with pytest.raises(ValueError, match="PARLEY_LLM='local': use one of auto, embedded, openai"):
        choose_llm(Settings(data_dir=tmp_path, llm="local"))


def test_pull_offline_says_where_to_put_the_file(tmp_path: Path) -> None:
    from parley.providers.llm.gguf_pull import GGUFPullError, pull_gguf

    dest = tmp_path / "models" / "llm"
    with pytest.raises(GGUFPullError) as caught:
        pull_gguf("qwen2.5-1.5b-instruct", dest, hub_url="http://127.0.0.1:9", timeout_s=2)
    message = str(caught.value)
    assert "could not reach the model hub at http://127.0.0.1:9" in message
    assert "qwen2.5-1.5b-instruct-q4_k_m.gguf by hand into" in message and str(dest) in message
    assert "PARLEY_LLM_GGUF=" in message
    with pytest.raises(ValueError, match="unknown LLM 'gpt-5'; known: llm-qwen2.5-0.5b"):
        pull_gguf("gpt-5", dest)
