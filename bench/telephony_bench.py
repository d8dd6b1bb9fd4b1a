"""Telephone-band speech (8 kHz μ-law, 300–3400 Hz) against 16 kHz, through the same
listener path: Silero VAD + the speech detector, the recogniser (interim and final words),
Smart Turn v3 and the end-of-turn policy.

    python -m bench.telephony_bench                     # Whisper tiny.en (the default STT)
    python -m bench.telephony_bench --stt pocketsphinx  # the bench's sentences, two voices

Each utterance is the project's espeak-ng speech (`tests/speech.py`) at 16 kHz, and the
same speech as a phone line carries it: band-limited to 300–3400 Hz, resampled to
8 kHz, μ-law coded, and decoded back to 16 kHz by `audio/wire.py` exactly as the Twilio
transport does. Figures per band:

- WER of the final transcript (word edit distance / reference words);
- onset: speech start → the detector confirms speech (what a barge-in waits for), and
  how many utterances it missed;
- early decisions: sentences with a mid-sentence pause (bench/script.py PAUSED,
  300–600 ms) whose pause was decided as the end of the turn (the required silence, from
  the model and the interim words at the pause, was shorter than the pause). The engine
  prepares a reply then but speaks only after 700 ms of silence (`speak_after_ms`), so
  on these pauses an early decision costs nothing; it is the margin that shrinks;
- end of turn: the silence required after the true end (the policy's wait), its mean.

Audio is fed as fast as the models take it; Whisper's interim decodes (asked for every
1 s of audio and at each pause, as in a call) are awaited as they are asked for, i.e. on
a machine that keeps up, so the interim words the policy reads are deterministic.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
from dataclasses import dataclass, field

import numpy as np

from bench.script import PAUSED, PAUSES_MS, PLAIN
from parley.audio.codecs import make_codec
from parley.audio.resample import resample
from parley.audio.wire import WireAudio
from parley.engine.endpointing import EndpointPolicy
from parley.providers.stt.base import STTProvider, STTStream
from parley.providers.stt.pocketsphinx import PocketsphinxSTT
from parley.providers.stt.whisper import WhisperSTT
from parley.providers.turn.smart_turn import SmartTurn
from parley.providers.vad.detector import SpeechDetector, VADEvent
from parley.providers.vad.silero import SileroVAD
from tests.speech import speak

FRAME = 512  # one Silero frame at 16 kHz (32 ms)
VOICES = ("espeak-en-us-male", "espeak-en-us-female")
_WORD = re.compile(r"[a-z']+")


def telephone(samples16k: np.ndarray) -> np.ndarray:
    """A phone line: 300–3400 Hz, 8 kHz μ-law, then back to 16 kHz as the server hears it."""
    spectrum = np.fft.rfft(samples16k.astype(np.float64))
    freqs = np.fft.rfftfreq(samples16k.size, 1 / 16000)
    spectrum[(freqs < 300) | (freqs > 3400)] = 0
    band = np.clip(np.fft.irfft(spectrum, samples16k.size), -32768, 32767).astype(np.int16)
    line = make_codec("mulaw", 8000).encode(resample(band, 16000, 8000))[0]
    return WireAudio("mulaw", 8000).decode(line)


def wer(reference: str, hypothesis: str) -> tuple[int, int]:
    """(word edits, reference words)."""
    ref, hyp = _WORD.findall(reference.lower()), _WORD.findall(hypothesis.lower())
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1], len(ref)


@dataclass
class Band:
    edits: int = 0
    words: int = 0
    onsets_ms: list[float] = field(default_factory=list)
    missed: int = 0
    cut_offs: int = 0
    pauses: int = 0
    end_waits_ms: list[int] = field(default_factory=list)
    examples: list[tuple[str, str]] = field(default_factory=list)


class Listener:
    """The listener's models on one utterance, frame by frame, as the engine runs them."""

    def __init__(self, vad: SileroVAD, stt: STTProvider, turn: SmartTurn) -> None:
        self.vad, self.stt, self.turn = vad, stt, turn
        self.policy = EndpointPolicy()

    async def run(self, audio: np.ndarray, pause_at: int | None) -> dict[str, object]:
        """Onset (ms after the first non-silent sample), the wait the policy asks at the
        pause (if any) and at the end, and the final transcript."""
        stream = self.vad.stream()
        detector = SpeechDetector(threshold=0.5)
        stt = await self.stt.open("en")
        voiced = np.flatnonzero(np.abs(audio) > 300)
        onset_sample = int(voiced[0]) if voiced.size else 0
        onset: float | None = None
        waits: dict[str, int] = {}
        try:
            for start in range(0, audio.size - FRAME + 1, FRAME):
                frame = audio[start : start + FRAME]
                update = detector.update(stream.probability(frame))
                stt.feed(frame)
                await keep_up(stt)
                if update.event is VADEvent.SPEECH_START and onset is None:
                    onset = (start + FRAME - onset_sample) * 1000 / 16000
                if update.event is VADEvent.SPEECH_END:
                    key = "pause" if pause_at is not None and start < pause_at + 16000 else "end"
                    if key in waits:
                        continue
                    heard = audio[: start + FRAME]
                    probability = await asyncio.to_thread(self.turn.predict, heard)
                    speech_ms = int((start - onset_sample) * 1000 / 16000)
                    waits[key] = self.policy.required_silence_ms(
                        probability, stt.partial(), speech_ms
                    )
            text = await stt.finish()
        finally:
            await stt.close()
        return {"onset": onset, "waits": waits, "text": text}


async def keep_up(stt: STTStream) -> None:
    """Let the recogniser's replies be read; wait for a Whisper decode in flight."""
    await asyncio.sleep(0)
    in_flight = getattr(stt, "_in_flight", None)
    if in_flight is not None:
        await asyncio.wait({in_flight})


def recogniser(name: str) -> STTProvider:
    if name == "pocketsphinx":
        return PocketsphinxSTT(workers=1, finish_timeout=300)
    return WhisperSTT(threads=1)


async def measure(
    sentences: list[tuple[str, int | None]], voices: tuple[str, ...], stt_name: str
) -> None:
    vad, turn, stt = SileroVAD(), SmartTurn(), recogniser(stt_name)
    vad.load()
    listener = Listener(vad, stt, turn)
    bands = {"16 kHz": Band(), "8 kHz μ-law": Band()}
    try:
        for voice in voices:
            for text, pause_ms in sentences:
                audio, pause_at = utterance(text, voice, pause_ms)
                for name, band_audio in (("16 kHz", audio), ("8 kHz μ-law", telephone(audio))):
                    result = await listener.run(band_audio, pause_at)
                    print(f"{name} {voice}: {text!r} → {result['text']!r}", flush=True)
                    band = bands[name]
                    edits, words = wer(text.replace("|", " "), str(result["text"]))
                    band.edits += edits
                    band.words += words
                    if len(band.examples) < 3 and edits:
                        band.examples.append((text.replace("|", " "), str(result["text"])))
                    if result["onset"] is None:
                        band.missed += 1
                    else:
                        band.onsets_ms.append(float(str(result["onset"])))
                    waits = dict(result["waits"])  # type: ignore[call-overload]
                    if pause_ms is not None:
                        band.pauses += 1
                        if "pause" in waits and waits["pause"] <= pause_ms:
                            band.cut_offs += 1
                    if "end" in waits:
                        band.end_waits_ms.append(int(waits["end"]))
    finally:
        await stt.close()
    print(f"STT: {stt_name}")
    report(bands)


def utterance(text: str, voice: str, pause_ms: int | None) -> tuple[np.ndarray, int | None]:
    """Speech with 0.5 s of silence before and 1.5 s after (and the pause, if any)."""
    lead, tail = np.zeros(8000, np.int16), np.zeros(24000, np.int16)
    if pause_ms is None:
        return np.concatenate([lead, speak(text, voice), tail]), None
    first, second = text.split("|")
    a, b = speak(first, voice), speak(second, voice)
    gap = np.zeros(pause_ms * 16, np.int16)
    return np.concatenate([lead, a, gap, b, tail]), lead.size + a.size


def report(bands: dict[str, Band]) -> None:
    print(
        "| band | WER | onset ms (mean, max) | missed | early decisions at pauses "
        "| end wait ms (mean) |"
    )
    print("|---|---|---|---|---|---|")
    for name, b in bands.items():
        onsets = b.onsets_ms or [0.0]
        onset = f"{statistics.mean(onsets):.0f}, {max(onsets):.0f}"
        wait = f"{statistics.mean(b.end_waits_ms):.0f}" if b.end_waits_ms else "–"
        print(
            f"| {name} | {b.edits / max(1, b.words):.1%} ({b.edits}/{b.words}) | {onset} | "
            f"{b.missed} | {b.cut_offs}/{b.pauses} | {wait} |"
        )
    for name, b in bands.items():
        for ref, hyp in b.examples:
            print(f"{name}: {ref!r} → {hyp!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--voices", nargs="+", default=list(VOICES))
    parser.add_argument("--stt", choices=("whisper", "pocketsphinx"), default="whisper")
    parser.add_argument("--limit", type=int, default=None, help="the first N sentences only")
    args = parser.parse_args()
    sentences: list[tuple[str, int | None]] = [(s, None) for s in PLAIN]
    for i, (first, second) in enumerate(PAUSED):
        sentences.append((f"{first}|{second}", PAUSES_MS[i % len(PAUSES_MS)]))
    asyncio.run(measure(sentences[: args.limit], tuple(args.voices), args.stt))


if __name__ == "__main__":
    main()
