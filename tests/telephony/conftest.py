"""A live server with telephony configured, an LLM double and a Twilio REST API double."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.doubles.llm_server import LLMServer
from tests.harness import ServerThread, fresh_database_url, server_settings
from tests.telephony.media_client import ACCOUNT_SID, AUTH_TOKEN
from tests.telephony.twilio_api import TwilioAPI

NUMBER = "+15557650000"
DESK = "+15557659999"


@pytest.fixture(scope="package")
def llm() -> Iterator[LLMServer]:
    with LLMServer() as server:
        yield server


@pytest.fixture(autouse=True)
def _reset_llm(llm: LLMServer) -> Iterator[None]:
    llm.reset()
    llm.requests.clear()
    yield


@pytest.fixture(scope="package")
def twilio_api() -> Iterator[TwilioAPI]:
    with TwilioAPI(ACCOUNT_SID, AUTH_TOKEN) as api:
        yield api


@pytest.fixture(scope="package")
def server(
    llm: LLMServer, twilio_api: TwilioAPI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerThread]:
    tmp = tmp_path_factory.mktemp("telephony")
    settings = server_settings(
        fresh_database_url("sqlite", tmp),
        tmp,
        llm_base_url=llm.base_url,
        llm_model="test-model",
        twilio_auth_token=AUTH_TOKEN,
        twilio_account_sid=ACCOUNT_SID,
        twilio_api_base_url=twilio_api.base_url,
    )
    with ServerThread(settings) as srv:
        yield srv


def new_agent(client: httpx.Client, prompt: str = "You answer the phone for Acme.") -> str:
    body = {"name": "Phone", "voice_id": "espeak-en-us-female", "system_prompt": prompt}
    r = client.post("/v1/agents/create", json=body)
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


def route(server: ServerThread, number: str = NUMBER, **fields: object) -> None:
    """Point `number` at an agent (PARLEY_TWILIO_ROUTES, read on each call)."""
    server.settings.twilio_routes = json.dumps({number: fields})
