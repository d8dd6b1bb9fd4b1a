"""`parley doctor`: what Parley found on this machine, what is missing, how to get it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from parley.config import Settings


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok | missing | info
    detail: str
    fix: str = ""


def _database(settings: Settings) -> Check:
    url = settings.resolved_database_url()
    kind = "PostgreSQL" if url.startswith("postgres") else "SQLite"
    return Check("database", "ok", f"{kind} ({url.split('@')[-1]})")


def _tts(settings: Settings) -> list[Check]:
    from parley.providers.tts.factory import describe_tts

    return [Check(name, status, detail) for name, status, detail in describe_tts(settings)]


def _models(settings: Settings) -> list[Check]:
    try:
        from parley.providers.models import describe_models
    except ImportError:
        return []
    # every bundled model: where it is, its source, size, licence, whether its hash matched
    return [
        Check(m.name, "ok" if m.verified else "missing", m.detail, m.fix)
        for m in describe_models()
    ]


def _stt(settings: Settings) -> Check:
    try:
        from parley.providers.stt import choose_stt
    except ImportError:
        return Check("stt", "info", "speech-to-text providers not available in this build")
    choice = choose_stt(settings)
    return Check("stt", "ok" if choice.available else "missing", choice.reason, choice.fix)


def _llm(settings: Settings) -> Check:
    if not settings.llm_base_url:
        return Check(
            "llm",
            "missing",
            "no LLM configured: conversations will answer with an 'llm_not_configured' error",
            "set PARLEY_LLM_BASE_URL to any OpenAI-compatible server (Ollama: "
            "http://127.0.0.1:11434/v1, vLLM/llama.cpp: http://127.0.0.1:8080/v1, OpenAI: "
            "https://api.openai.com/v1) and PARLEY_LLM_MODEL (+ PARLEY_LLM_API_KEY if needed)",
        )
    model = settings.llm_model or "(first model the server lists)"
    return Check("llm", "ok", f"{settings.llm_base_url} model {model}")


def run_checks(settings: Settings) -> list[Check]:
    checks: list[Check] = [_database(settings)]
    checks.extend(_models(settings))
    checks.extend(_tts(settings))
    producers: list[Callable[[Settings], Check]] = [_stt, _llm]
    checks.extend(p(settings) for p in producers)
    return checks
