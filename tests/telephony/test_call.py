"""A phone call over Media Streams, end to end: speech in μ-law 8 kHz, spoken answers,
barge-in by marks, DTMF, hang-up, malformed messages."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

import httpx
import numpy as np
import pytest
import websockets

from tests.doubles.llm_server import LLMServer, Script, text
from tests.harness import ServerThread
from tests.speech import speak
from tests.telephony.conftest import NUMBER, new_agent, route
from tests.telephony.media_client import Answer, TwilioMedia, place_call

LONG_REPLY = (
    "Our store opens at nine in the morning. It closes at six in the evening. "
    "On Saturdays we open at ten and close at four. We are closed on Sundays. "
    "Parking is free behind the building. The entrance is on Main Street."
)


def history(client: httpx.Client, session_id: str) -> dict[str, Any]:
    r = client.get(f"/v1/conversations/{session_id}")
    assert r.status_code == 200, r.text
    return dict(r.json())


async def wait_history(
    client: httpx.Client, session_id: str, condition: Any, timeout: float = 30.0
) -> dict[str, Any]:
    """Poll the conversation (off the event loop: the caller's playback goes on)."""
    deadline = time.monotonic() + timeout
    while True:
        rec = await asyncio.to_thread(history, client, session_id)
        if condition(rec):
            return rec
        assert time.monotonic() < deadline, rec
        await asyncio.sleep(0.1)


async def call(server: ServerThread, client: httpx.Client, **fields: object) -> tuple[Answer, str]:
    route(server, agent_id=new_agent(client), **fields)
    answer = place_call(server.url, NUMBER)
    assert answer.status == 200, answer.body
    return answer, answer.parameters["session_id"]


async def test_a_spoken_question_gets_a_spoken_answer(
    server: ServerThread, client: httpx.Client, llm: LLMServer
) -> None:
    llm.responder = lambda req: Script(text("We open at nine in the morning."))
    answer, sid = await call(server, client, greeting="Thanks for calling Acme.")
    media = await TwilioMedia.connect(answer, server.ws_url)
    try:
        # the greeting plays first, as paced μ-law 8 kHz media, each chunk followed by a mark
        await media.wait(lambda: media.reply_seconds() > 1.0, "greeting audio")
        kinds = [m["event"] for m in media.received[:6]]
        assert kinds == ["media", "mark"] * 3
        await media.quiet(2.5)
        await media.say(speak("When do you open tomorrow morning?"))
        await media.quiet(1.0)
        rec = await wait_history(client, sid, lambda r: len(r["history"]) >= 3)
        turns = rec["history"]
        assert [t["role"] for t in turns] == ["assistant", "user", "assistant"]
        assert turns[0]["text"] == "Thanks for calling Acme."
        # heard and transcribed (how well at 8 kHz: bench/telephony_bench.py)
        assert turns[1]["text"].strip()
        assert turns[2]["text"] == "We open at nine in the morning."
        assert llm.chat_requests[-1].body["messages"][-1]["content"] == turns[1]["text"]
        # the answer was heard: real audio, every mark echoed once it played
        await media.wait(lambda: len(media.echoed) == len(media.of("mark")), "all marks echoed")
        heard = np.concatenate(media.heard)
        assert heard.size / 8000 > 2.5
        # paced in real time: the greeting's chunks came over as long as it plays, less the
        # pacer's lead (200 ms), not in a burst
        marks = [
            (t, int(m["mark"]["name"].split(":")[1]))
            for t, m in zip(media.arrivals, media.received, strict=True)
            if m["event"] == "mark" and m["mark"]["name"].startswith("0:")
        ]
        span_ms = (marks[-1][0] - marks[0][0]) * 1000
        assert marks[-1][1] - marks[0][1] - 300 < span_ms < marks[-1][1] + 500
        assert np.sqrt(np.mean(heard.astype(np.float64) ** 2)) > 300
        assert rec["status"] == "active"
    finally:
        await media.stop()
        await media.close()
    ended = await wait_history(client, sid, lambda r: r["status"] == "ended")
    assert len(ended["history"]) == 3


async def test_barge_in_clears_and_history_holds_what_the_marks_say_was_heard(
    server: ServerThread, client: httpx.Client, llm: LLMServer
) -> None:
    llm.responder = lambda req: Script(text(LONG_REPLY))
    answer, sid = await call(server, client)
    # a slow phone network: the caller hears the reply 600 ms after it is sent
    media = await TwilioMedia.connect(answer, server.ws_url, playout_delay_s=0.6)
    try:
        await media.dtmf("#")  # a keypad turn asks; the long answer plays
        await media.wait(lambda: media.reply_seconds() > 0.2, "reply audio", timeout=30)
        await media.quiet(3.0)
        echoed_before = list(media.echoed)
        await media.say(speak("Sorry, please stop there."))
        await media.wait(lambda: bool(media.clears), "clear")
        await media.quiet(1.0)
        rec = await wait_history(
            client, sid, lambda r: len(r["history"]) >= 2 and r["history"][1]["interrupted"]
        )
    finally:
        await media.stop()
        await media.close()
    cut = rec["history"][1]
    assert cut["role"] == "assistant" and cut["interrupted"] is True
    # what was heard is the latest mark Twilio had echoed when the caller spoke up
    reply = echoed_before[0][1].split(":")[0]
    heard_marks = [int(n.split(":")[1]) for t, n in media.echoed if n.startswith(f"{reply}:")]
    assert cut["duration_ms"] in heard_marks
    before_clear = [
        int(n.split(":")[1])
        for t, n in media.echoed
        if t < media.clears[0] and n.startswith(f"{reply}:")
    ]
    assert cut["duration_ms"] <= max(before_clear)
    assert cut["duration_ms"] >= int(echoed_before[-1][1].split(":")[1])
    sent = [
        m["mark"]["name"] for m in media.of("mark") if m["mark"]["name"].startswith(f"{reply}:")
    ]
    sent_ms = max(int(name.split(":")[1]) for name in sent)  # a mark names the audio before it
    # The reply is held at the caller's first voiced frame (two-step yield), so little was
    # sent beyond what Twilio was playing; Twilio cannot hold playback, so until `clear`
    # the caller hears what it holds, and the marks say so.
    assert cut["duration_ms"] <= sent_ms
    assert LONG_REPLY.startswith(cut["text"]) and 0 < len(cut["text"]) < len(LONG_REPLY) // 2
    # the marks, not the pacer: the pacer counts the 600 ms in the network as heard
    assert cut["duration_ms"] < (media.clears[0] - media.first_arrival("media")) * 1000 - 300


async def test_keypad_digits_reach_the_model_and_bad_messages_do_not_end_the_call(
    server: ServerThread, client: httpx.Client, llm: LLMServer, caplog: pytest.LogCaptureFixture
) -> None:
    llm.responder = lambda req: Script(text("Thank you."))
    answer, sid = await call(server, client)
    media = await TwilioMedia.connect(answer, server.ws_url)
    caplog.set_level(logging.WARNING, logger="parley.telephony")
    try:
        await media.ws.send("this is not json")
        await media.ws.send('{"no_event": 1}')
        await media.send("media", media={"track": "inbound", "payload": "!!not base64!!"})
        await media.send("dtmf", dtmf={"digit": "X"})
        await media.send("mark", mark={})
        await media.send("party", party={})
        await media.ws.send(b"\x00\x01binary")
        for digit in "42#":
            await media.dtmf(digit)
        await media.quiet(0.5)
        rec = await wait_history(client, sid, lambda r: len(r["history"]) >= 2)
        assert rec["history"][0]["text"] == "[keypad: 4 2 #]"
        assert rec["history"][0]["metadata"] == {"dtmf": "42#"}  # the digits, as data
        # each bad message is named in the log (Twilio has no error message to send)
        for reason in ("not JSON", "no string 'event'", "'media.payload' is not base64"):
            assert "malformed message ignored" in caplog.text and reason in caplog.text
        assert llm.chat_requests[-1].body["messages"][-1] == {
            "role": "user",
            "content": "[keypad: 4 2 #]",
        }
        # the call goes on: digits without '#' are one turn after a pause
        await media.dtmf("7")
        await media.quiet(2.0)
        rec = await wait_history(client, sid, lambda r: len(r["history"]) >= 4)
        assert rec["history"][2]["text"] == "[keypad: 7]"
        assert rec["history"][2]["metadata"] == {"dtmf": "7"}
        assert "metadata" not in rec["history"][1] or "dtmf" not in rec["history"][1]["metadata"]
        assert media.closed is None
    finally:
        await media.close()


async def test_hanging_up_mid_reply_keeps_what_the_marks_say_was_heard(
    server: ServerThread, client: httpx.Client, llm: LLMServer
) -> None:
    llm.responder = lambda req: Script(text(LONG_REPLY))
    answer, sid = await call(server, client)
    # a slow phone network: the caller hears the reply 600 ms after it is sent
    media = await TwilioMedia.connect(answer, server.ws_url, playout_delay_s=0.6)
    try:
        await media.quiet(0.3)
        await media.say(speak("What are your opening hours?"))
        await media.wait(lambda: media.reply_seconds() > 2.0, "reply audio", timeout=40)
        await media.wait(lambda: len(media.echoed) > 20, "marks echoed")
        echoed_before = list(media.echoed)
        hung_up = time.monotonic()
        await media.stop()
        await media.wait_closed()
    finally:
        await media.close()
    rec = await wait_history(client, sid, lambda r: r["status"] == "ended")
    turns = rec["history"]
    assert [t["role"] for t in turns] == ["user", "assistant"]
    cut = turns[1]
    assert cut["interrupted"] is True
    assert LONG_REPLY.startswith(cut["text"]) and 0 < len(cut["text"]) < len(LONG_REPLY)
    # what was heard is a mark Twilio echoed: the latest one it had when the caller hung up
    reply = echoed_before[-1][1].split(":")[0]
    echoed_ms = [int(n.split(":")[1]) for _, n in media.echoed if n.startswith(f"{reply}:")]
    assert cut["duration_ms"] in echoed_ms
    assert cut["duration_ms"] >= int(echoed_before[-1][1].split(":")[1])
    # the marks, not the pacer: the pacer counts the 600 ms in the network as heard
    assert cut["duration_ms"] < (hung_up - media.first_arrival("media")) * 1000 - 300


async def test_hanging_up_mid_sentence_stores_the_words_said(
    server: ServerThread, client: httpx.Client, llm: LLMServer
) -> None:
    """The caller is cut off mid-sentence: the recogniser's final on what was heard is
    stored as the caller's turn (not answered: the call is over)."""
    llm.responder = lambda req: Script(text("We open at nine."))
    answer, sid = await call(server, client)
    media = await TwilioMedia.connect(answer, server.ws_url)
    words = speak("I would like to book a table for two people tonight at the restaurant")
    try:
        await media.quiet(0.3)
        await media.say(words[: words.size * 2 // 3])  # the line drops two thirds of the way
        await media.stop()
        await media.wait_closed()
    finally:
        await media.close()
    rec = await wait_history(client, sid, lambda r: r["status"] == "ended")
    [turn] = rec["history"]
    assert turn["role"] == "user" and turn["text"].strip()
    assert 0 < turn["duration_ms"] <= words.size * 2 // 3 / 16 + 100
    assert llm.chat_requests == []


async def test_a_stream_token_opens_one_stream_only(
    server: ServerThread, client: httpx.Client
) -> None:
    answer, sid = await call(server, client)
    first = await TwilioMedia.connect(answer, server.ws_url)
    await first.stop()
    await first.wait_closed()
    await first.close()
    again = await TwilioMedia.connect(answer, server.ws_url)
    try:
        code, reason = await again.wait_closed()
        assert code == 1008 and "token" in reason
    finally:
        await again.close()
    forged = Answer(200, "", answer.stream_url, {**answer.parameters, "token": "pst_forged"})
    bad = await TwilioMedia.connect(forged, server.ws_url)
    try:
        code, _ = await bad.wait_closed()
        assert code == 1008
    finally:
        await bad.close()


async def test_a_socket_that_never_starts_is_closed(server: ServerThread) -> None:
    async with websockets.connect(f"{server.ws_url}/v1/telephony/twilio/stream") as ws:
        await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        for _ in range(25):
            with contextlib.suppress(websockets.ConnectionClosed):
                await ws.send("not json")
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
