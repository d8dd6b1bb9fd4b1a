"""Word error rate with numbers normalised ("4" = "four", "4567" = "four five six seven").

    wer(reference, hypothesis) -> (errors, reference words)

Both sides go through `normalise`: lower case, punctuation dropped, British spellings
made American, and numbers written as digits ("seven thirty" -> "7 30", "twenty five"
-> "25", "two hundred" -> "200", a run of single digits -> one number, "fourth" -> "4th").
"""

from __future__ import annotations

import re

_UNITS = "zero one two three four five six seven eight nine".split()
_TEENS = "ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
_ORDINALS = {
    "first": "1st", "second": "2nd", "third": "3rd", "fourth": "4th", "fifth": "5th",
    "sixth": "6th", "seventh": "7th", "eighth": "8th", "ninth": "9th", "tenth": "10th",
}  # fmt: skip
_SPELLING = {
    "kilometres": "kilometers", "kilometre": "kilometer", "metres": "meters",
    "centre": "center", "colour": "color", "favourite": "favorite", "honour": "honor",
    "cafes": "cafés", "ok": "okay", "mr": "mister",
}  # fmt: skip
_VALUE = {w: i for i, w in enumerate(_UNITS)} | {w: 10 + i for i, w in enumerate(_TEENS)}
_VALUE |= {w: 20 + 10 * i for i, w in enumerate(_TENS)}


def _tokens(text: str) -> list[str]:
    text = text.lower().replace("-", " ").replace(":", " ")
    text = re.sub(r"(\d),(\d{3})", r"\1\2", text)
    text = re.sub(r"[^\w' ]+", " ", text)
    return [t.strip("'") for t in text.split() if t.strip("'")]


def normalise(text: str) -> list[str]:
    out: list[str] = []
    for tok in _tokens(text):
        tok = _SPELLING.get(tok, tok)
        tok = _ORDINALS.get(tok, tok)
        if tok in _VALUE:
            tok = str(_VALUE[tok])
        prev = out[-1] if out else ""
        if tok == "hundred" and prev.isdigit():
            out[-1] = str(int(prev) * 100)
            continue
        if tok.isdigit() and prev.isdigit():
            p, v = int(prev), int(tok)
            if p >= 20 and p % 10 == 0 and v < 10 and len(prev) == 2:  # twenty five
                out[-1] = str(p + v)
                continue
            if p >= 100 and p % 100 == 0 and v < 100:  # two hundred and five
                out[-1] = str(p + v)
                continue
            if len(tok) == 1:  # four five six seven -> 4567
                out[-1] = prev + tok
                continue
        out.append(tok)
    return out


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


def wer(reference: str, hypothesis: str) -> tuple[int, int]:
    ref, hyp = normalise(reference), normalise(hypothesis)
    return edit_distance(ref, hyp), len(ref)
