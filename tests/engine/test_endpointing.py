"""The end-of-turn policy as a pure function: which signal wins, and when the model is
not worth running."""

from __future__ import annotations

from parley.engine.endpointing import EndpointPolicy, ends_unfinished

POLICY = EndpointPolicy()


def test_words_that_cannot_end_a_sentence_beat_a_confident_model() -> None:
    assert ends_unfinished("I would like to book a table for")
    assert POLICY.required_silence_ms(0.89, "I would like to book a table for", 2000) == 1600
    assert POLICY.required_silence_ms(None, "I would like to book a table for", 2000) == 1600


def test_a_sure_model_shortens_unfinished_words_to_the_normal_wait_only() -> None:
    """ "How is the weather going to be this weekend?" heard as "… the week and": the
    model is sure (≥ 0.9) the turn is over, the words are probably misheard."""
    assert POLICY.required_silence_ms(0.97, "going to be the week and", 2000) == 600


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


def test_the_model_is_skipped_when_it_cannot_change_the_decision() -> None:
    assert not POLICY.needs_model(POLICY.min_speech_ms - 1)
    assert POLICY.needs_model(POLICY.min_speech_ms)
    # which is sound: below that, every probability gives the same wait
    short = POLICY.min_speech_ms - 1
    for words in ("can you help me", None, "a table for"):
        assert len({POLICY.required_silence_ms(p, words, short) for p in (None, 0.0, 1.0)}) == 1
