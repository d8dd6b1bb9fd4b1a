"""pocketsphinx in worker processes, on real speech (espeak-ng sentences, a NASA interview).

pocketsphinx's en-us model recognises espeak-ng speech poorly; the sentences below were
picked because it gets them right with any leading/trailing silence and chunking.
One pool of two workers serves the whole module (starting it costs ~1 s).
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import numpy as np
import pytest
import pytest_asyncio

from parley.providers.stt.base import STTError, Transcript
from parley.providers.stt.pocketsphinx import PocketsphinxStream, PocketsphinxSTT
from tests.speech import SPACEWALK, read_wav, silence, speak

pytestmark = pytest.mark.asyncio(loop_scope="module")

FEMALE, MALE = "espeak-en-us-female", "espeak-en-us-male"
HOSPITAL = ("Where is the nearest hospital", FEMALE)  # -> "where is the nearest hospital"
TOMORROW = ("See you tomorrow", MALE)  # -> "see you tomorrow"
COST = ("How much does it cost", FEMALE)  # -> "... much does it cost"
FRAME = 320  # 20 ms, as a transport delivers it


def utterance(sentence: tuple[str, str]) -> np.ndarray:
    text, voice = sentence
    return np.concatenate([silence(0.2), speak(text, voice), silence(0.3)])


def feed_all(stream: PocketsphinxStream, audio: np.ndarray) -> None:
    for i in range(0, len(audio), FRAME):
        stream.feed(audio[i : i + FRAME])


async def transcribe(stt: PocketsphinxSTT, sentence: tuple[str, str]) -> str:
    stream = await stt.open("en")
    try:
        feed_all(stream, utterance(sentence))
        return await stream.finish()
    finally:
        await stream.close()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def stt() -> AsyncIterator[PocketsphinxSTT]:
    # A final may take long here: the interview's 13 s go in at 20x real time, and the
    # worker (~1.2x real time alone on this box) shares the CPU with another test. How
    # soon finals come is the paced run's and bench/stt_bench.py's business, not this one's.
    provider = PocketsphinxSTT(workers=2, finish_timeout=60.0)
    await provider.start()
    yield provider
    await provider.close()


async def test_transcribes_synthesized_sentences(stt: PocketsphinxSTT) -> None:
    hospital, tomorrow, cost = await asyncio.gather(
        transcribe(stt, HOSPITAL), transcribe(stt, TOMORROW), transcribe(stt, COST)
    )
    assert hospital == "where is the nearest hospital"
    assert tomorrow == "see you tomorrow"
    assert "much does it cost" in cost


async def test_stream_is_reused_utterance_after_utterance(stt: PocketsphinxSTT) -> None:
    stream = await stt.open("en-US")
    try:
        feed_all(stream, utterance(HOSPITAL))
        first = await stream.finish()
        assert stream.partial() == ""
        feed_all(stream, utterance(TOMORROW))
        second = await stream.finish()
        assert await stream.finish() == ""  # nothing fed since
    finally:
        await stream.close()
    assert "hospital" in first
    assert "tomorrow" in second and "hospital" not in second


async def test_real_interview_with_partials_on_the_way(stt: PocketsphinxSTT) -> None:
    """13 s of the NASA interview: "... I think many of us are looking forward to it
    just being normal"; fed 20x faster than real time."""
    audio = read_wav(SPACEWALK)[: int(13.2 * 16000)]
    partials: list[str] = []
    stream = await stt.open("en", on_partial=lambda t: partials.append(t.text))
    try:
        for i in range(0, len(audio), 1600):
            stream.feed(audio[i : i + 1600])
            await asyncio.sleep(0.005)
        # The worker decodes as fast as the CPU lets it (a loaded machine is slower):
        # give it time to report progress before asking for the final.
        for _ in range(200):
            if len(partials) >= 5:
                break
            await asyncio.sleep(0.05)
        seen_before_finish = list(partials)
        text = await stream.finish()
    finally:
        await stream.close()
    assert "think" in text and "looking" in text and "normal" in text
    # The worker decodes ~4x faster than real time, so it is behind; its interim
    # transcripts grew as it went.
    assert len(seen_before_finish) >= 5
    assert len(seen_before_finish[-1].split()) > len(seen_before_finish[0].split())


# --- one paced run, several properties -----------------------------------------------


@dataclass
class PacedRun:
    """Two sessions at once, each saying two sentences in real time (20 ms frames)."""

    finals: list[str] = field(default_factory=list)
    finish_latency: list[float] = field(default_factory=list)  # s, last audio -> final
    partials_before_end: list[list[Transcript]] = field(default_factory=list)
    partial_at_finish: list[str] = field(default_factory=list)
    feed_seconds: list[float] = field(default_factory=list)
    loop_lag: list[float] = field(default_factory=list)  # s, late wake-ups of a 5 ms timer


async def _session(stt: PocketsphinxSTT, sentences: list[tuple[str, str]], run: PacedRun) -> None:
    seen: list[Transcript] = []
    stream = await stt.open("en", on_partial=seen.append)
    try:
        for sentence in sentences:
            audio = utterance(sentence)
            seen.clear()
            start = time.perf_counter()
            for n, i in enumerate(range(0, len(audio), FRAME)):
                t = time.perf_counter()
                stream.feed(audio[i : i + FRAME])
                run.feed_seconds.append(time.perf_counter() - t)
                await asyncio.sleep(max(0.0, start + (n + 1) * 0.02 - time.perf_counter()))
            run.partials_before_end.append(list(seen))
            run.partial_at_finish.append(stream.partial())
            t = time.perf_counter()
            run.finals.append(await stream.finish())
            run.finish_latency.append(time.perf_counter() - t)
    finally:
        await stream.close()


async def _ticker(stop: asyncio.Event, lags: list[float]) -> None:
    while not stop.is_set():
        t = time.perf_counter()
        await asyncio.sleep(0.005)
        lags.append(time.perf_counter() - t - 0.005)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def paced(stt: PocketsphinxSTT) -> PacedRun:
    run = PacedRun()
    for sentence in (HOSPITAL, TOMORROW):
        utterance(sentence)  # synthesize outside the measurement
    stop = asyncio.Event()
    ticker = asyncio.create_task(_ticker(stop, run.loop_lag))
    await asyncio.gather(
        _session(stt, [HOSPITAL, TOMORROW], run), _session(stt, [TOMORROW, HOSPITAL], run)
    )
    stop.set()
    await ticker
    ms = [round(x * 1000) for x in sorted(run.finish_latency)]
    lag = sorted(run.loop_lag)
    print(
        f"\nfinish latency ms {ms}; loop lag p50 {statistics.median(lag) * 1000:.1f} ms "
        f"max {lag[-1] * 1000:.1f} ms; feed p50 {statistics.median(run.feed_seconds) * 1e6:.0f} us"
    )
    return run


async def test_paced_sessions_transcribe(paced: PacedRun) -> None:
    assert sorted(paced.finals) == sorted(["where is the nearest hospital", "see you tomorrow"] * 2)


async def test_partials_arrive_while_the_user_speaks(paced: PacedRun) -> None:
    for seen, at_finish in zip(paced.partials_before_end, paced.partial_at_finish, strict=True):
        assert len(seen) >= 2, "interim transcripts should come as the audio is decoded"
        assert all(not t.final for t in seen)
        assert at_finish and at_finish == seen[-1].text


async def test_the_final_never_hangs(paced: PacedRun) -> None:
    """How soon the final comes after the last audio is a figure, not a test
    (`bench/stt_bench.py`: ~20-40 ms on an idle machine, because the worker decodes while
    the user speaks, which `test_partials_arrive_while_the_user_speaks` checks). Two
    timed or content checks here failed under CPU sharing: a median < 250 ms, and "the
    partial at finish holds half the final's words" (pocketsphinx's partial hypothesis
    for "see you tomorrow" two thirds in was "the")."""
    assert max(paced.finish_latency) < 5.0


async def test_event_loop_keeps_running_while_workers_decode(paced: PacedRun) -> None:
    lag = sorted(paced.loop_lag)
    assert statistics.median(lag) < 0.01
    assert lag[int(len(lag) * 0.99)] < 0.05  # a thread decoder stalled it for 200 ms


async def test_feed_returns_at_once(paced: PacedRun) -> None:
    feeds = sorted(paced.feed_seconds)
    assert statistics.median(feeds) < 100e-6
    assert feeds[int(len(feeds) * 0.95)] < 1e-3


# --- concurrency, cancellation, failures ---------------------------------------------


async def test_streams_sharing_a_worker_do_not_mix(stt: PocketsphinxSTT) -> None:
    sentences = [HOSPITAL, TOMORROW, COST]
    streams = [await stt.open("en") for _ in sentences]
    try:
        pids = [s.worker_pid for s in streams]
        assert len(set(pids)) < len(pids)  # three streams, two workers
        audios = [utterance(s) for s in sentences]
        for i in range(0, max(len(a) for a in audios), FRAME):
            for stream, audio in zip(streams, audios, strict=True):
                if i < len(audio):
                    stream.feed(audio[i : i + FRAME])
            if i % 3200 == 0:
                await asyncio.sleep(0)
        hospital, tomorrow, cost = await asyncio.gather(*(s.finish() for s in streams))
    finally:
        for s in streams:
            await s.close()
    assert hospital == "where is the nearest hospital"
    assert tomorrow == "see you tomorrow"
    assert "cost" in cost and "hospital" not in cost and "tomorrow" not in cost


async def test_cancel_drops_the_utterance(stt: PocketsphinxSTT) -> None:
    stream = await stt.open("en")
    try:
        feed_all(stream, utterance(HOSPITAL))
        await stream.cancel()
        assert stream.partial() == ""
        feed_all(stream, utterance(TOMORROW))
        text = await stream.finish()
    finally:
        await stream.close()
    assert "tomorrow" in text and "hospital" not in text


async def test_only_english(stt: PocketsphinxSTT) -> None:
    assert stt.supports("en") and stt.supports("en-GB") and not stt.supports("de")
    with pytest.raises(STTError) as err:
        await stt.open("de")
    assert err.value.code == "stt_unsupported_language"


async def test_closed_stream_refuses_audio(stt: PocketsphinxSTT) -> None:
    stream = await stt.open("en")
    await stream.close()
    await stream.close()  # idempotent
    with pytest.raises(STTError) as err:
        stream.feed(np.zeros(FRAME, dtype=np.int16))
    assert err.value.code == "stt_closed"


async def _until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_killed_worker_fails_its_utterance_and_the_pool_recovers(
    stt: PocketsphinxSTT,
) -> None:
    streams = [await stt.open("en") for _ in range(3)]
    try:
        # Two streams share a worker: one mid-utterance, one between utterances.
        pids = [s.worker_pid for s in streams]
        pid = next(p for p in pids if p is not None and pids.count(p) == 2)
        busy, idle = [s for s in streams if s.worker_pid == pid]
        audio = utterance(HOSPITAL)
        feed_all(busy, audio[: len(audio) // 2])
        await _until(lambda: busy.partial() != "")
        os.kill(pid, signal.SIGKILL)
        feed_all(busy, audio[len(audio) // 2 :])  # into a dead worker: dropped, not raised
        with pytest.raises(STTError) as err:
            await asyncio.wait_for(busy.finish(), 10)
        assert err.value.code == "stt_worker_crashed"
        assert str(pid) in err.value.message

        await _until(lambda: len(stt.worker_pids()) == 2 and pid not in stt.worker_pids())
        # Both streams go on, on live workers.
        feed_all(busy, utterance(TOMORROW))
        feed_all(idle, utterance(HOSPITAL))
        again, other = await asyncio.gather(busy.finish(), idle.finish())
        assert again == "see you tomorrow"
        assert other == "where is the nearest hospital"
    finally:
        for s in streams:
            await s.close()
    assert await transcribe(stt, TOMORROW) == "see you tomorrow"
