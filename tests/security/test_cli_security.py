"""The `parley` command: keys list/revoke, the exposure warning, trusted proxies only,
and no key in the access log."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx

from parley.api.logredact import RedactTokens
from parley.cli import exposure_warnings
from parley.config import Settings
from tests.test_cli import env_for, free_port, parley, serving


def test_keys_list_and_revoke(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    key = parley("keys", "create", "--name", "ops", env=env).stdout.strip().splitlines()[-1]
    listed = parley("keys", "list", env=env)
    assert listed.returncode == 0 and key not in listed.stdout
    key_id, account, prefix, name = listed.stdout.strip().splitlines()[-1].split("\t")
    assert key_id.startswith("key_") and prefix == key[:8] + "…" and name == "ops"
    more = parley("keys", "create", "--account", account, "--name", "second", env=env)
    assert more.returncode == 0, more.stderr
    assert len(parley("keys", "list", "--account", account, env=env).stdout.splitlines()) == 2
    port = free_port()
    with serving(tmp_path, port):
        auth = {"Authorization": f"Bearer {key}"}
        assert httpx.get(f"http://127.0.0.1:{port}/v1/keys", headers=auth).status_code == 200
        revoked = parley("keys", "revoke", key_id, env=env)
        assert revoked.returncode == 0, revoked.stderr
        assert httpx.get(f"http://127.0.0.1:{port}/v1/keys", headers=auth).status_code == 401
    again = parley("keys", "revoke", key_id, env=env)
    assert again.returncode == 1 and "No live key" in again.stderr


def test_forwarded_headers_count_only_from_trusted_proxies(tmp_path: Path) -> None:
    key = "a-long-enough-test-key-0123456789"
    port = free_port()
    body = {"voice_id": "espeak-en-us-female", "system_prompt": "Hi."}
    headers = {"Authorization": f"Bearer {key}", "X-Forwarded-Proto": "https"}
    # 127.0.0.1 (the test) is not the proxy named here: its X-Forwarded-Proto is ignored
    with serving(tmp_path, port, PARLEY_API_KEY=key, PARLEY_FORWARDED_ALLOW_IPS="10.9.9.9"):
        r = httpx.post(
            f"http://127.0.0.1:{port}/v1/conversations/create", json=body, headers=headers
        )
        assert r.json()["websocket_url"].startswith("ws://"), r.text
    port = free_port()
    with serving(tmp_path, port, PARLEY_API_KEY=key):  # default: loopback is the proxy
        r = httpx.post(
            f"http://127.0.0.1:{port}/v1/conversations/create", json=body, headers=headers
        )
        assert r.json()["websocket_url"].startswith("wss://"), r.text


def test_exposure_warnings() -> None:
    assert exposure_warnings(Settings(host="127.0.0.1", api_key="dev-key-change-me")) == []
    weak = exposure_warnings(Settings(host="0.0.0.0", api_key="dev-key-change-me"))
    assert len(weak) == 1 and "weak" in weak[0]
    assert exposure_warnings(Settings(host="0.0.0.0", api_key="x" * 40)) == []
    allow = exposure_warnings(Settings(host="::", api_key="x" * 40, webhook_allow="10.0.0.0/8"))
    assert len(allow) == 1 and "PARLEY_WEBHOOK_ALLOW" in allow[0]


def test_token_query_parameter_is_redacted_from_the_access_log() -> None:
    # the record uvicorn's access logger makes: '%s - "%s %s HTTP/%s" %d'
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        (
            "127.0.0.1:5",
            "GET",
            "/v1/conversations/c/stream?encoding=pcm16&token=prl_SECRET",
            "1.1",
            101,
        ),
        None,
    )
    RedactTokens().filter(record)
    line = record.getMessage()
    assert "prl_SECRET" not in line and "token=***" in line and "encoding=pcm16" in line
