"""What the benchmark's users say, and what the LLM double answers.

Three kinds of turn (`Turn.kind`):

- "plain":   a finished question, spoken at once;
- "pause":   a sentence with a 300-600 ms pause at a word boundary ("I would like to book
             a table for" … "two people tonight."). Some first halves end in a word that
             cannot end a sentence ("for", "to", "on"), others in one that can ("I need a
             taxi" … "to the airport"), where only the turn model and the wait can tell;
- "barge":   a question the double answers at length; while that answer plays, the user
             speaks over it (an interjection, which is then answered like any turn).

Speech is espeak-ng (the project's own TTS, `tests/speech.py`), each utterance made by a
fresh process and cached on disk, so runs are repeatable.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tests.doubles.llm_server import ChatRequest, Script, Text, echo_responder, text

USER_VOICE = "espeak-en-us-male"
RATE = 16000
CACHE_DIR = Path("/tmp/parley-bench-speech")

PLAIN = (
    "What time does the museum open tomorrow?",
    "Can you help me with my order?",
    "How is the weather going to be this weekend?",
    "Please add milk and eggs to my shopping list.",
    "What is the capital of Australia?",
    "Set an alarm for seven thirty.",
    "How many kilometres is it to the coast?",
    "Can you recommend a good book about history?",
)

# (first half, second half). The pause goes between them.
PAUSED = (
    ("I would like to book a table for", "two people tonight."),
    ("Can you tell me the way to", "the nearest train station?"),
    ("I need a taxi", "to the airport at six in the morning."),
    ("My daughter's birthday is on", "the fourth of July."),
    ("Please remind me to call my mother", "after the meeting tomorrow."),
    ("What is the best way to get from the hotel", "to the old town?"),
)
PAUSES_MS = (300, 400, 500, 600)

LONG_QUESTIONS = (
    "Tell me a long story about the history of Paris.",
    "Can you explain how a steam engine works?",
)
INTERJECTIONS = (
    "Sorry, can I stop you there?",
    "Wait, stop, that is enough.",
)
LONG_REPLY = (
    "Paris is the capital of France and one of the oldest cities in Europe. "
    "It began as a small fishing village on an island in the river Seine. "
    "The Romans called it Lutetia and built baths, a forum and an arena there. "
    "In the middle ages it became a great centre of learning and trade. "
    "Its cathedral took almost two hundred years to build. "
    "Today millions of people visit its museums, parks and cafes every year. "
    "Spring and autumn are the loveliest times to go there."
)

# The order of turn kinds in a session; --turns T takes the first T (repeating).
PATTERN = ("plain", "pause", "plain", "barge", "pause", "plain", "pause", "plain")

# `--set pauses`: the turn-taking set of issue 11. Mid-sentence pauses of 0.6-1.2 s after
# words that cannot end a sentence (people pause like that; a listener waits), between
# finished questions (for voice-to-voice).
LONG_PAUSED = (
    ("I would like to book a table for", "two people at seven tonight."),
    ("My order number is", "four five six seven."),
    ("Can you tell me the way to", "the nearest train station?"),
    ("My daughter's birthday is on", "the fourth of July."),
    ("I want to send a parcel to", "my sister in Berlin."),
    ("Please move the meeting with", "the design team to Friday."),
    ("The flight number is", "two seven three nine."),
    ("Could you find me a hotel near", "the main square for two nights?"),
)
LONG_PAUSES_MS = (600, 800, 1000, 1200)
SETS = {
    "default": (PATTERN, PAUSED, PAUSES_MS),
    "pauses": (("pause", "plain"), LONG_PAUSED, LONG_PAUSES_MS),
}


@dataclass(frozen=True)
class Turn:
    kind: str  # plain | pause | barge
    text: str  # plain and barge: the question; pause: the first half
    second: str = ""  # pause: the second half; barge: the interjection
    pause_ms: int = 0

    @property
    def label(self) -> str:
        if self.kind == "pause":
            return f"{self.text} ‖{self.pause_ms}ms‖ {self.second}"
        if self.kind == "barge":
            return f"{self.text} ⟂ {self.second}"
        return self.text


def session_script(session: int, turns: int, which: str = "default") -> list[Turn]:
    """Session `session`'s turns: the pattern, with sentences rotated across sessions."""
    pattern, paused, pauses_ms = SETS[which]
    out: list[Turn] = []
    counts = {"plain": 0, "pause": 0, "barge": 0}
    for i in range(turns):
        kind = pattern[i % len(pattern)]
        n = counts[kind]
        counts[kind] += 1
        if kind == "plain":
            out.append(Turn("plain", PLAIN[(session * 3 + n) % len(PLAIN)]))
        elif kind == "pause":
            # 24 (sentence, pause) combinations: sessions 0-23 each get a different one
            # on their first pause turn, and a session's later pause turns others (the
            # `pauses` set: 32, and a session's 8 pause turns are its 8 sentences).
            step = 7 if which == "default" else 5
            c = (session + step * n) % (len(paused) * len(pauses_ms))
            first, second = paused[c % len(paused)]
            out.append(Turn("pause", first, second, pauses_ms[c // len(paused) % len(pauses_ms)]))
        else:
            k = session + n
            out.append(
                Turn(
                    "barge",
                    LONG_QUESTIONS[k % len(LONG_QUESTIONS)],
                    INTERJECTIONS[k % len(INTERJECTIONS)],
                )
            )
    return out


def all_sentences() -> set[str]:
    return {
        *PLAIN,
        *(half for pair in PAUSED + LONG_PAUSED for half in pair),
        *LONG_QUESTIONS,
        *INTERJECTIONS,
        "Hello, this is a warm up.",
    }


# --- speech ---------------------------------------------------------------------------


def speech(sentence: str) -> np.ndarray:
    """`sentence` spoken by the user's voice, 16 kHz int16, cached on disk."""
    key = hashlib.sha1(f"{USER_VOICE}|{RATE}|{sentence}".encode()).hexdigest()[:16]
    path = CACHE_DIR / f"{key}.npy"
    if path.exists():
        return np.load(path)
    from tests.speech import speak

    samples = speak(sentence, USER_VOICE, RATE)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, samples)
    tmp.replace(path)
    return samples


def silence(ms: int) -> np.ndarray:
    return np.zeros(RATE * ms // 1000, dtype=np.int16)


# --- the LLM double's answers -----------------------------------------------------------

_SESSION_TAG = re.compile(r"\[bench-session (\d+)\]")


def system_prompt(session: int) -> str:
    return f"You are a helpful assistant. [bench-session {session}]"


class Responder:
    """Echo (two sentences, as `echo_responder`) by default; the long reply for a
    session whose client has asked for it (set just before the "barge" question is
    spoken). The session is read from a tag in the system prompt, so transcription
    errors do not matter; the request is a file in `flag_dir`, so the client and the
    LLM double may live in different processes."""

    def __init__(self, flag_dir: Path) -> None:
        self.flag_dir = flag_dir
        flag_dir.mkdir(parents=True, exist_ok=True)

    def _flag(self, session: int) -> Path:
        return self.flag_dir / f"long-{session}"

    def want_long(self, session: int, on: bool) -> None:
        if on:
            self._flag(session).touch()
        else:
            self._flag(session).unlink(missing_ok=True)

    def __call__(self, request: ChatRequest) -> Script:
        system = next(
            (str(m.get("content")) for m in request.messages if m.get("role") == "system"), ""
        )
        m = _SESSION_TAG.search(system)
        long = m is not None and self._flag(int(m.group(1))).exists()
        reply = LONG_REPLY if long else _echo_text(request)
        # One chunk per sentence: the first token completes the first sentence, so the
        # time from first token to speech is all the server's (no LLM streaming in it).
        return Script(text(*(s + " " for s in _SENTENCE_END.split(reply) if s)))


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def _echo_text(request: ChatRequest) -> str:
    """The text of `echo_responder`'s answer ("You said: …. What else?")."""
    script = echo_responder(request)
    return "".join(
        piece for step in script.steps if isinstance(step, Text) for piece in step.pieces
    )
