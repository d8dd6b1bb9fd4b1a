"""The end-of-turn policy as a pure function: which signal wins, and when the model is
not worth running."""

from __future__ import annotations

from parley.engine.endpointing import EndpointPolicy, ends_unfinished

POLICY = EndpointPolicy()


def test_words_that_cannot_end_a_sentence_beat_even_a_sure_model() -> None:
    """Smart Turn's int8 scores differ by CPU: "I am looking for" scored 0.974 on one
    machine. With Whisper's words no score shortens an unfinished sentence's wait."""
    assert ends_unfinished("I would like to book a table for")
    for p in (None, 0.2, 0.89, 0.974, 1.0):
        assert POLICY.required_silence_ms(p, "I would like to book a table for", 2000) == 1600
        assert POLICY.required_silence_ms(p, "I am looking for", 2000) == 1600


def test_digits_being_read_out_wait_long_and_numbers_said_as_one_do_not() -> None:
    """ "My order number is four five ‖ six seven": a listener waits for the rest."""
    for text in ("my order number is four five", "the code is 4 5", "4 5 6 7"):
        assert ends_unfinished(text), text
        assert POLICY.required_silence_ms(0.95, text, 2000) == 1600
    # a time or an amount (Whisper writes "730") ends a sentence as well as any word
    for text in ("Set an alarm for 730.", "set an alarm for seven thirty", "a table for two"):
        assert not ends_unfinished(text), text
        assert POLICY.required_silence_ms(0.95, text, 2000) == 200


def test_a_trailing_comma_is_an_unfinished_phrase() -> None:
    """Whisper often drops the dangling word at a pause but keeps its mark: "The flight
    number is ‖ two seven…" was heard as "The flight number," (bench --set pauses)."""
    for text in ("The flight number,", "My order is,", "Well -", "so…"):
        assert ends_unfinished(text), text
        assert POLICY.required_silence_ms(0.9, text, 2000) == 1600
    assert not ends_unfinished("Can you help me with my order?")
    assert ends_unfinished("je voudrais,", "fr")  # punctuation, in any language


def test_a_confident_model_and_finished_words_decide_fast() -> None:
    assert POLICY.required_silence_ms(0.9, "can you help me with my order", 2000) == 200


def test_an_unsure_model_waits_the_normal_time() -> None:
    assert POLICY.required_silence_ms(0.2, "can you help me with my order", 2000) == 600
    assert POLICY.required_silence_ms(None, "can you help me with my order", 2000) == 600


def test_too_few_words_or_too_short_a_turn_wait_the_normal_time() -> None:
    assert POLICY.required_silence_ms(0.9, "yes", 2000) == 600  # one word may be "so…"
    assert POLICY.required_silence_ms(0.9, "", 2000) == 600  # the recogniser lags
    assert POLICY.required_silence_ms(0.9, "yes please", 250) == 600


def test_without_interim_words_the_model_decides_alone() -> None:
    """A remote or batch recogniser gives no words until the end: a confident model
    must still be able to end the turn quickly, and nothing can say "unfinished"."""
    assert POLICY.required_silence_ms(0.9, None, 2000) == 200
    assert POLICY.required_silence_ms(0.2, None, 2000) == 600
    assert POLICY.required_silence_ms(0.9, None, 250) == 600


def test_other_languages_rely_on_the_model() -> None:
    assert not ends_unfinished("je voudrais une table pour", "fr")
    assert POLICY.required_silence_ms(0.9, "pour", 2000, "fr") == 200


def test_session_settings_change_the_waits() -> None:
    session = POLICY.for_session(
        {"end_of_turn_fast_ms": 100, "end_of_turn_normal_ms": 900, "end_of_turn_slow_ms": 2500}
    )
    assert session.required_silence_ms(0.9, "can you help me with my order", 2000) == 100
    assert session.required_silence_ms(0.2, "can you help me with my order", 2000) == 900
    assert session.required_silence_ms(0.9, "a table for", 2000) == 2500
    # settings without them (or null) leave the server's policy as it is
    assert POLICY.for_session({"interruption": "none", "end_of_turn_slow_ms": None}) is POLICY
    assert POLICY.for_session({"end_of_turn_slow_ms": 2000}).fast_ms == POLICY.fast_ms


def test_the_model_is_skipped_when_it_cannot_change_the_decision() -> None:
    assert not POLICY.needs_model(POLICY.min_speech_ms - 1)
    assert POLICY.needs_model(POLICY.min_speech_ms)
    # which is sound: below that, every probability gives the same wait
    short = POLICY.min_speech_ms - 1
    for words in ("can you help me", None, "a table for"):
        assert len({POLICY.required_silence_ms(p, words, short) for p in (None, 0.0, 1.0)}) == 1
