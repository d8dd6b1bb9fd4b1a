"""`parley doctor`: what Parley found on this machine, what is missing, how to get it.

Without `--url` it reports on this shell's configuration (its `PARLEY_*` variables and
installed packages); with `--url` on a running server, which answers
`GET /v1/diagnostics` with the same checks made in its own environment.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from parley.config import Settings

# user:password@ in a URL, and a query string (tokens travel there too)
_USERINFO = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s]*@")
_QUERY = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s?#]*)\?[^\s#]*")


def redact(text: str) -> str:
    """`text` with the credentials and query strings of its URLs cut out."""
    return _QUERY.sub(r"\1", _USERINFO.sub(r"\1", text))


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
        Check(m.name, "ok" if m.verified else "missing", m.detail, m.fix) for m in describe_models()
    ]


def _stt(settings: Settings) -> Check:
    try:
        from parley.providers.stt import choose_stt
    except ImportError:
        return Check("stt", "info", "speech-to-text providers not available in this build")
    choice = choose_stt(settings)
    return Check("stt", "ok" if choice.available else "missing", choice.reason, choice.fix)


def _llm(settings: Settings) -> Check:
    from parley.providers.llm.choose import build_llm, choose_llm
    from parley.providers.llm.gguf import GGUFError

    try:
        choice = choose_llm(settings)
        if choice.kind == "none":
            return Check("llm", "missing", choice.reason, choice.fix)
        if choice.kind == "openai":
            return Check("llm", "ok", choice.reason)
        llm, _ = build_llm(settings)  # loads the GGUF and measures its speed
    except (GGUFError, ValueError) as e:
        return Check("llm", "missing", str(e), "see the README section on the LLM")
    try:
        measure = getattr(llm, "measure", None)
        if measure is not None:
            measure()
        describe = getattr(llm, "describe", None)
        return Check("llm", "ok", describe() if describe is not None else choice.reason)
    finally:
        close = getattr(getattr(llm, "worker", None), "close", None)
        if close is not None:
            close()


def run_checks(settings: Settings) -> list[Check]:
    checks: list[Check] = [_database(settings)]
    checks.extend(_models(settings))
    checks.extend(_tts(settings))
    producers: list[Callable[[Settings], Check]] = [_stt, _llm]
    checks.extend(p(settings) for p in producers)
    return checks


def fetch_server_checks(url: str, api_key: str, timeout: float = 30.0) -> tuple[str, list[Check]]:
    """The version and checks of the server at `url` (`GET /v1/diagnostics`);
    `RuntimeError` saying what went wrong if it cannot be asked."""
    import httpx

    endpoint = url.rstrip("/") + "/v1/diagnostics"
    try:
        answer = httpx.get(
            endpoint, headers={"Authorization": f"Bearer {api_key}"}, timeout=timeout
        )
    except httpx.HTTPError as exc:
        raise RuntimeError(f"cannot reach it ({exc or type(exc).__name__})") from exc
    if answer.status_code == 401:
        raise RuntimeError("the server refused the API key (--key, or PARLEY_API_KEY)")
    if answer.status_code == 404:
        raise RuntimeError(f"no {endpoint} (not a Parley server, or an older one)")
    try:
        body: Any = answer.json()
        if answer.status_code != 200:
            raise ValueError(body)
        checks = [
            Check(str(c["name"]), str(c["status"]), str(c["detail"]), str(c.get("fix") or ""))
            for c in body["checks"]
        ]
        return str(body.get("version", "?")), checks
    except (ValueError, KeyError, TypeError) as exc:
        raise RuntimeError(f"unexpected answer: HTTP {answer.status_code}") from exc
