"""The benchmark's word error rate: numbers and spellings normalised, nothing else."""

from __future__ import annotations

from bench.wer import normalise, wer


def test_numbers_are_compared_as_numbers() -> None:
    said = normalise("My order number is four five six seven.")
    assert said == normalise("My order number is 4567.") == normalise("my order number is 4 5 6 7")
    assert normalise("Set an alarm for seven thirty.") == normalise("set an alarm for 7:30")
    assert normalise("twenty five") == ["25"] and normalise("two hundred years") == ["200", "years"]
    assert normalise("the fourth of July") == normalise("The 4th of July.")
    assert normalise("How many kilometres?") == normalise("how many kilometers")


def test_wer_counts_substitutions_insertions_and_deletions() -> None:
    assert wer("what is the weather like", "What is the weather like?") == (0, 5)
    assert wer("what is the weather like", "what is that weather") == (2, 5)
    assert wer("ask not", "and so ask not what") == (3, 2)
