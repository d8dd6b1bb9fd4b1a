"""The words that decide a paused reply (`engine/yielding.py`)."""

from __future__ import annotations

import pytest

from parley.engine.yielding import YieldSettings, asks_for_floor, is_backchannel

BACKCHANNELS = [
    "uh huh",
    "mm hmm",
    "yeah",
    "okay",
    "right",
    "I see",
    "sure",
    "got it",
    "mhm",
    "yep",
    "oh okay",
    "alright",
    "exactly",
    "wow",
    "",
]
INTERRUPTIONS = [
    "wait",
    "stop",
    "sorry can I ask",
    "no that's wrong",
    "what about tomorrow",
    "actually I meant Paris",
    "hold on a second",
    "tell me more about the museum",
]


@pytest.mark.parametrize("text", BACKCHANNELS)
def test_backchannels_leave_the_floor(text: str) -> None:
    assert is_backchannel(text)
    assert not asks_for_floor(text)


@pytest.mark.parametrize("text", INTERRUPTIONS)
def test_other_words_take_it(text: str) -> None:
    assert not is_backchannel(text)


def test_floor_words_interrupt_before_the_speech_ends() -> None:
    assert asks_for_floor("wait")
    assert asks_for_floor("sorry")
    assert not asks_for_floor("yeah right")


def test_other_languages_rely_on_there_being_no_words() -> None:
    assert is_backchannel("", "fr")
    assert not is_backchannel("oui", "fr")


def test_settings_defaults_and_overrides() -> None:
    assert YieldSettings.from_settings({}) == YieldSettings("adaptive", 1000, 1500)
    assert YieldSettings.from_settings({"interruption": "none"}).interruption == "none"
