"""The voice webhook: signed requests only, TwiML built with the twilio library, a
session of the number's agent."""

from __future__ import annotations

import logging

import httpx
import pytest
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import VoiceResponse

from parley.api.app import create_app
from tests.harness import ServerThread, server_settings
from tests.telephony.conftest import NUMBER, new_agent, route
from tests.telephony.media_client import AUTH_TOKEN, call_form, place_call

SID = "CA" + "a" * 32


def test_a_signed_call_connects_to_the_numbers_agent(
    server: ServerThread, client: httpx.Client
) -> None:
    agent = new_agent(client)
    route(server, agent_id=agent, greeting="Thanks for calling Acme.")
    answer = place_call(server.url, NUMBER, caller="+15550001234", call_sid=SID)
    assert answer.status == 200, answer.body
    assert answer.stream_url == f"ws://127.0.0.1:{server.port}/v1/telephony/twilio/stream"
    assert set(answer.parameters) == {"session_id", "token", "agent_id"}
    assert answer.parameters["agent_id"] == agent
    assert answer.parameters["token"].startswith("pst_")
    assert [child.tag for child in answer.xml] == ["Connect"]
    rec = client.get(f"/v1/conversations/{answer.parameters['session_id']}").json()
    assert rec["metadata"] == {
        "channel": "twilio",
        "callSid": SID,
        "from": "+15550001234",
        "to": NUMBER,
    }
    assert rec["agent_id"] == agent
    assert rec["status"] == "ready"


@pytest.mark.parametrize(
    ("signature", "token"),
    [("", AUTH_TOKEN), (None, "another-accounts-token"), ("abc=", AUTH_TOKEN)],
)
def test_unsigned_or_wrongly_signed_calls_are_refused(
    server: ServerThread, client: httpx.Client, signature: str | None, token: str
) -> None:
    route(server, agent_id=new_agent(client))
    answer = place_call(server.url, NUMBER, signature=signature, token=token)
    assert answer.status == 403
    error = httpx.Response(403, text=answer.body).json()["error"]
    assert error["type"] and "X-Twilio-Signature" in error["message"]


def test_a_signature_over_other_fields_is_refused(
    server: ServerThread, client: httpx.Client
) -> None:
    route(server, agent_id=new_agent(client))
    form = call_form(SID, NUMBER, "+15550001111")
    sig = RequestValidator(AUTH_TOKEN).compute_signature(
        f"{server.url}/v1/telephony/twilio/voice", {**form, "To": "+15550009999"}
    )
    r = httpx.post(
        f"{server.url}/v1/telephony/twilio/voice", data=form, headers={"X-Twilio-Signature": sig}
    )
    assert r.status_code == 403


def test_behind_a_proxy_the_public_url_is_what_is_signed(
    server: ServerThread, client: httpx.Client
) -> None:
    route(server, agent_id=new_agent(client))
    public = "https://voice.example.com"
    server.settings.public_url = public
    try:
        # signed for the URL Twilio called, not the one the server sees
        answer = place_call(server.url, NUMBER, signed_url=f"{public}/v1/telephony/twilio/voice")
        assert answer.status == 200, answer.body
        assert answer.stream_url == "wss://voice.example.com/v1/telephony/twilio/stream"
        assert place_call(server.url, NUMBER).status == 403
    finally:
        server.settings.public_url = None


def test_an_unrouted_number_hears_an_apology_and_is_hung_up(
    server: ServerThread, client: httpx.Client
) -> None:
    route(server, number="+15551110000", agent_id=new_agent(client))
    answer = place_call(server.url, NUMBER)
    assert answer.status == 200
    assert [child.tag for child in answer.xml] == ["Say", "Hangup"]
    expected = VoiceResponse()
    expected.say("Sorry, this number cannot take your call right now. Goodbye.")
    expected.hangup()
    assert answer.body == str(expected)


def test_a_route_to_a_deleted_agent_apologises(server: ServerThread, client: httpx.Client) -> None:
    agent = new_agent(client)
    route(server, agent_id=agent)
    assert client.delete(f"/v1/agents/{agent}").status_code == 200
    answer = place_call(server.url, NUMBER)
    assert [child.tag for child in answer.xml] == ["Say", "Hangup"]


def test_a_call_without_twilios_fields_is_a_400(server: ServerThread) -> None:
    url = f"{server.url}/v1/telephony/twilio/voice"
    form = {"From": "+15550001111"}
    sig = RequestValidator(AUTH_TOKEN).compute_signature(url, form)
    r = httpx.post(url, data=form, headers={"X-Twilio-Signature": sig})
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "CallSid"


def test_verification_off_lets_unsigned_calls_in_and_says_so_at_start_up(
    server: ServerThread, client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    settings = server_settings("sqlite+aiosqlite:///:memory:", server.settings.data_dir)
    settings.twilio_verify_signature = False
    with caplog.at_level(logging.WARNING, logger="parley.telephony"):
        create_app(settings)
    assert "PARLEY_TWILIO_VERIFY_SIGNATURE is off" in caplog.text
    route(server, agent_id=new_agent(client))
    server.settings.twilio_verify_signature = False
    try:
        assert place_call(server.url, NUMBER, signature="").status == 200
    finally:
        server.settings.twilio_verify_signature = True
    assert place_call(server.url, NUMBER, signature="").status == 403
