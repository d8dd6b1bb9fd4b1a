"""`parley doctor --url` asks a running server (`GET /v1/diagnostics`), which reports its
own configuration without secrets; without `--url` doctor says it reports on this shell.

The server here has an LLM configured; the shell running `parley doctor` has none (a
second shell, as a newcomer has): the two reports must differ, each saying which it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.harness import ServerThread, fresh_database_url, server_settings
from tests.test_cli import env_for, free_port, parley

LLM_URL = "http://parley-user:s3cret-pw@llm.internal:8080/v1?token=q-s3cret"
LLM_KEY = "sk-llm-s3cret-key"
SECRETS = ("s3cret", LLM_KEY)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    tmp = tmp_path_factory.mktemp("doctor")
    settings = server_settings(
        fresh_database_url("sqlite", tmp),
        tmp,
        llm_base_url=LLM_URL,
        llm_model="llama3.2",
        llm_api_key=LLM_KEY,
    )
    with ServerThread(settings) as srv:
        yield srv


def test_diagnostics_need_a_key_and_hold_no_secret(server: ServerThread) -> None:
    assert httpx.get(f"{server.url}/v1/diagnostics").status_code == 401
    bad = httpx.get(f"{server.url}/v1/diagnostics", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    key = server.new_key()
    answer = httpx.get(f"{server.url}/v1/diagnostics", headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200
    body = answer.json()
    checks = {c["name"]: c for c in body["checks"]}
    assert checks["llm"]["status"] == "ok"
    assert checks["llm"]["detail"] == (
        "OpenAI-compatible server http://llm.internal:8080/v1 model llama3.2"
    )
    assert checks["database"]["detail"].startswith("SQLite")
    assert {"stt", "tts", "live_streams", "voices"} <= set(body["running"])
    assert "espeak" in body["running"]["tts"]
    for secret in (*SECRETS, key, server.settings.api_key):
        assert secret and secret not in answer.text


def test_doctor_url_reports_the_servers_configuration(server: ServerThread, tmp_path: Path) -> None:
    key = server.new_key()
    # no LLM in this shell: no server URL, and not the embedded model either
    shell = env_for(tmp_path, PARLEY_API_KEY=key, PARLEY_LLM="openai")

    here = parley("doctor", env=shell)
    assert here.stdout.startswith("Reporting on this shell's configuration")
    assert "✗ llm: PARLEY_LLM=openai but PARLEY_LLM_BASE_URL is not set" in here.stdout
    assert here.returncode == 1

    there = parley("doctor", "--url", server.url, env=shell)
    assert there.stdout.startswith(f"Reporting on the server at {server.url} (Parley ")
    assert "✓ llm: OpenAI-compatible server http://llm.internal:8080/v1 model llama3.2" in (
        there.stdout
    )
    assert "✓ stt:" in there.stdout and "espeak-ng" in there.stdout
    assert not any(s in there.stdout + there.stderr for s in SECRETS)
    ok = httpx.get(
        f"{server.url}/v1/diagnostics", headers={"Authorization": f"Bearer {key}"}
    ).json()["ok"]
    assert there.returncode == (0 if ok else 1), there.stdout

    with_flag = parley("doctor", "--url", server.url, "--key", key, env=env_for(tmp_path))
    assert with_flag.returncode == there.returncode
    assert "✓ llm: OpenAI-compatible server http://llm.internal" in with_flag.stdout


def test_doctor_url_says_what_went_wrong(server: ServerThread, tmp_path: Path) -> None:
    refused = parley("doctor", "--url", server.url, "--key", "wrong", env=env_for(tmp_path))
    assert refused.returncode == 2
    assert "refused the API key" in refused.stderr

    no_key = parley("doctor", "--url", server.url, env=env_for(tmp_path))
    assert no_key.returncode == 2
    assert "PARLEY_API_KEY" in no_key.stderr

    nobody = f"http://127.0.0.1:{free_port()}"
    unreachable = parley("doctor", "--url", nobody, "--key", "k", env=env_for(tmp_path))
    assert unreachable.returncode == 2
    assert f"server at {nobody}: cannot reach it" in unreachable.stderr
