"""The route table's checks, the keypad text, and the bench's phone line and WER."""

from __future__ import annotations

import numpy as np
import pytest

from bench.telephony_bench import telephone, wer
from parley.transports.twilio_call import keypad_text
from parley.transports.twilio_routes import RouteConfigError, parse_routes
from tests.speech import speak


def test_routes_accept_an_agent_id_or_an_object() -> None:
    routes = parse_routes(
        '{"+15551234567": "agt_a", "+15557654321": {"agent_id": "agt_b", "end_call": true,'
        ' "transfer_to": "+15550000001", "greeting": "Hello."}}'
    )
    assert routes["+15551234567"].agent_id == "agt_a"
    assert routes["+15551234567"].end_call is False
    b = routes["+15557654321"]
    assert (b.agent_id, b.end_call, b.transfer_to, b.greeting) == (
        "agt_b",
        True,
        "+15550000001",
        "Hello.",
    )
    assert parse_routes(None) == {} and parse_routes("  ") == {}


@pytest.mark.parametrize(
    ("raw", "names"),
    [
        ("{", "not valid JSON"),
        ("[]", "JSON object"),
        ('{"5551234": "agt_a"}', "E.164"),
        ('{"+15551234567": {"agent": "agt_a"}}', "unknown fields ['agent']"),
        ('{"+15551234567": {}}', "needs an 'agent_id'"),
        ('{"+15551234567": {"agent_id": "agt_a", "end_call": "yes"}}', "end_call"),
        ('{"+15551234567": {"agent_id": "agt_a", "transfer_to": "desk"}}', "transfer_to"),
        ('{"+15551234567": 7}', "an agent id or an object"),
    ],
)
def test_a_bad_route_table_says_what_is_wrong(raw: str, names: str) -> None:
    with pytest.raises(RouteConfigError) as exc:
        parse_routes(raw)
    assert names in str(exc.value)


def test_keypad_digits_are_spelled_out() -> None:
    assert keypad_text("12#") == "[keypad: 1 2 #]"


def test_the_phone_line_keeps_300_to_3400_hz_only() -> None:
    audio = speak("Can you help me with my order?")
    line = telephone(audio)
    # the streaming resampler holds back its last few ms (the bench's utterances end in
    # 1.5 s of silence)
    assert audio.size - 1600 < line.size <= audio.size
    spectrum = np.abs(np.fft.rfft(line.astype(np.float64)))
    freqs = np.fft.rfftfreq(line.size, 1 / 16000)
    inside = spectrum[(freqs > 400) & (freqs < 3300)].mean()
    assert spectrum[freqs > 4200].mean() < inside / 30
    assert spectrum[freqs < 150].mean() < inside / 5


def test_wer_counts_word_edits() -> None:
    assert wer("Can you help me with my order?", "can you help the order") == (3, 7)
    assert wer("Hello there.", "hello there") == (0, 2)
    assert wer("a b", "") == (2, 2)
