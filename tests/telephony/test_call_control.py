"""Call control: the agent hangs up (`end_call`) or transfers the call (`transfer_call`,
through the twilio client against a double of Twilio's REST API)."""

from __future__ import annotations

import httpx

from tests.doubles.llm_server import LLMServer, Script, text, tool_call
from tests.harness import ServerThread
from tests.telephony.conftest import DESK, NUMBER
from tests.telephony.media_client import TwilioMedia
from tests.telephony.test_call import call, wait_history
from tests.telephony.twilio_api import TwilioAPI

SID = "CA" + "1" * 32


async def test_end_call_says_goodbye_then_hangs_up(
    server: ServerThread, client: httpx.Client, llm: LLMServer
) -> None:
    llm.queue(
        Script(text("Glad I could help. "), tool_call("end_call", {}, id="call_end")),
        Script(text("Goodbye!")),
    )
    answer, sid = await call(server, client, end_call=True)
    media = await TwilioMedia.connect(answer, server.ws_url)
    try:
        await media.dtmf("#")
        code, _ = await media.wait_closed(timeout=40)
        assert code == 1000
        # every word of the goodbye was played before the line closed
        assert len(media.echoed) == len(media.of("mark")) > 0
        assert media.clears == []
    finally:
        await media.close()
    rec = await wait_history(client, sid, lambda r: r["status"] == "ended")
    offered = [t["function"]["name"] for t in llm.chat_requests[0].body["tools"]]
    assert offered == ["end_call"]
    reply = rec["history"][-1]
    assert reply["text"] == "Glad I could help. Goodbye!"
    assert reply["metadata"]["tool_calls"][0]["name"] == "end_call"
    assert "error" not in reply["metadata"]["tool_calls"][0]


async def test_end_call_is_offered_only_where_the_route_enables_it(
    server: ServerThread, client: httpx.Client, llm: LLMServer
) -> None:
    llm.responder = lambda req: Script(text("Hello."))
    answer, sid = await call(server, client)
    media = await TwilioMedia.connect(answer, server.ws_url)
    try:
        await media.dtmf("#")
        await wait_history(client, sid, lambda r: len(r["history"]) >= 2)
    finally:
        await media.stop()
        await media.close()
    assert "tools" not in llm.chat_requests[0].body


async def test_transfer_call_redirects_the_call_with_dial(
    server: ServerThread, client: httpx.Client, llm: LLMServer, twilio_api: TwilioAPI
) -> None:
    twilio_api.live_calls.add(SID)
    llm.queue(
        Script(tool_call("transfer_call", {}, id="call_transfer")),
        Script(text("I am transferring you to the front desk now.")),
    )
    answer, sid = await call(
        server, client, transfer_to=DESK, transfer_label="the front desk", end_call=True
    )
    media = await TwilioMedia.connect(answer, server.ws_url)
    try:
        await media.dtmf("0")
        await media.dtmf("#")
        code, _ = await media.wait_closed(timeout=40)
        assert code == 1000
    finally:
        await media.close()
    [update] = twilio_api.updates
    assert update.call_sid == SID
    assert update.form == {
        "Twiml": f'<?xml version="1.0" encoding="UTF-8"?><Response><Dial>{DESK}</Dial></Response>'
    }
    assert update.user_agent.startswith("twilio-python/")
    rec = await wait_history(client, sid, lambda r: r["status"] == "ended")
    assert rec["history"][-1]["text"] == "I am transferring you to the front desk now."
    tools = {t["function"]["name"]: t for t in llm.chat_requests[0].body["tools"]}
    assert set(tools) == {"end_call", "transfer_call"}
    assert "the front desk" in tools["transfer_call"]["function"]["description"]
    assert rec["metadata"]["to"] == NUMBER


async def test_a_failed_transfer_is_said_and_the_call_goes_on(
    server: ServerThread, client: httpx.Client, llm: LLMServer, twilio_api: TwilioAPI
) -> None:
    twilio_api.live_calls.discard(SID)  # Twilio answers 404: no such call
    twilio_api.updates.clear()
    llm.queue(
        Script(tool_call("transfer_call", {}, id="call_transfer")),
        Script(text("One moment, I will transfer you.")),
    )
    answer, sid = await call(server, client, transfer_to=DESK)
    media = await TwilioMedia.connect(answer, server.ws_url)
    try:
        await media.dtmf("#")
        rec = await wait_history(client, sid, lambda r: len(r["history"]) >= 3, timeout=40)
        assert rec["history"][2]["text"] == "Sorry, I could not transfer your call."
        assert rec["status"] == "active" and media.closed is None
    finally:
        await media.stop()
        await media.close()
    assert twilio_api.updates == []
