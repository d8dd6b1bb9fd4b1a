"""The sentences the speech-to-text benchmark speaks (both voices), and the recordings."""

from __future__ import annotations

from pathlib import Path

from bench.script import LONG_QUESTIONS, PAUSED, PLAIN

# The real recordings. One constant: tests/data/speech/ once the project carries its own
# copies, ../shared/testdata/speech/ until then.
_ROOT = Path(__file__).resolve().parents[1]
RECORDINGS_DIR = next(
    (
        p
        for p in (
            _ROOT / "tests" / "data" / "speech",
            _ROOT.parent / "shared" / "testdata" / "speech",
        )
        if p.is_dir()
    ),
    Path("/work/shared/testdata/speech"),
)
RECORDINGS = {
    "jfk.flac": "And so my fellow Americans, ask not what your country can do for you, ask what "
    "you can do for your country.",
    "spacewalk-interview.wav": "Yeah, as much as it's worth celebrating the first spacewalk with "
    "an all-female team, I think many of us are looking forward to it just being normal. And I "
    "think if it signifies anything, it is to honour the women who came before us, who were "
    "skilled and qualified, and didn't get the same opportunities that we have today.",
}

SENTENCES: tuple[str, ...] = (
    *PLAIN,
    *(f"{a} {b}" for a, b in PAUSED),
    *LONG_QUESTIONS,
    "What is the weather like in Tokyo today?",
    "My order number is four five six seven.",
    "Book a table for two at seven.",
    "Please turn off the lights in the kitchen.",
    "Sorry, can I stop you there?",
    "Wait, stop, that is enough.",
)
