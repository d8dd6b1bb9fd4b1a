"""One benchmark session: a scripted user talking to Parley over the native stream.

The microphone (`Mic`) never stops: it sends a 20 ms pcm16 frame every 20 ms, speech
when some is queued and silence otherwise, as a real client with an open microphone
does. Each frame's send time is recorded, so "the user stopped speaking" is the send
time of the last non-silent frame of an utterance. A reader task stamps every event and
reply audio frame on arrival. All times are `time.monotonic()` in the client process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from array import array
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
import websockets
from websockets.asyncio.client import ClientConnection

from bench.script import RATE, Responder, Turn, silence, speech, system_prompt

FRAME_MS = 20
FRAME = RATE * FRAME_MS // 1000
VOICED_PEAK = 300  # a 20 ms frame whose peak exceeds this (of 32767) is speech
TURN_TIMEOUT_S = 30.0  # a reply that has not finished by then counts as timed out


class ClientStats:
    """How well the client itself kept time (its figures are only as good as this)."""

    def __init__(self) -> None:
        self.send_late_ms = array("d")  # per frame: send time minus its real-time slot
        self.loop_lag_ms = array("d")  # a 10 ms timer's lateness on the client loop
        self.resyncs = 0

    async def watch_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            t = time.monotonic()
            await asyncio.sleep(0.01)
            self.loop_lag_ms.append((time.monotonic() - t - 0.01) * 1000)


@dataclass
class Played:
    """Send times of one queued piece of audio."""

    first_sent: float | None = None
    first_voiced: float | None = None
    last_voiced: float | None = None
    done: float | None = None
    start_chunk: int = -1  # index of its first 20 ms frame in the stream
    last_voiced_chunk: int = -1


@dataclass
class _Clip:
    frames: list[bytes]
    voiced: list[bool]
    played: Played
    finished: asyncio.Future[Played]
    pos: int = 0


class Mic:
    def __init__(self, ws: ClientConnection, stats: ClientStats) -> None:
        self._ws = ws
        self._stats = stats
        self._queue: deque[_Clip] = deque()
        self._silent = bytes(FRAME * 2)
        self.stopped = False
        self.chunks_sent = 0  # stream position, in 20 ms frames

    def queue(self, samples: np.ndarray) -> _Clip:
        pad = (-len(samples)) % FRAME
        if pad:
            samples = np.concatenate([samples, np.zeros(pad, dtype=np.int16)])
        chunks = samples.reshape(-1, FRAME)
        clip = _Clip(
            frames=[c.astype("<i2").tobytes() for c in chunks],
            voiced=[bool(np.abs(c.astype(np.int32)).max() > VOICED_PEAK) for c in chunks],
            played=Played(),
            finished=asyncio.get_running_loop().create_future(),
        )
        self._queue.append(clip)
        return clip

    async def play(self, *pieces: np.ndarray) -> list[Played]:
        """Queue `pieces` back to back; return their send times once all are sent."""
        clips = [self.queue(p) for p in pieces]
        for clip in clips:
            await clip.finished
        return [c.played for c in clips]

    async def idle(self, seconds: float) -> None:
        """Let the microphone send silence for `seconds`."""
        await asyncio.sleep(seconds)

    async def run(self) -> None:
        next_t = time.monotonic()
        try:
            while not self.stopped:
                clip = self._queue[0] if self._queue else None
                if clip is not None:
                    frame, voiced = clip.frames[clip.pos], clip.voiced[clip.pos]
                else:
                    frame, voiced = self._silent, False
                delay = next_t - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                late = time.monotonic() - next_t
                self._stats.send_late_ms.append(late * 1000)
                await self._ws.send(frame)
                sent = time.monotonic()
                if clip is not None:
                    p = clip.played
                    if p.first_sent is None:
                        p.first_sent = sent
                        p.start_chunk = self.chunks_sent
                    if voiced:
                        p.first_voiced = p.first_voiced or sent
                        p.last_voiced = sent
                        p.last_voiced_chunk = self.chunks_sent
                    clip.pos += 1
                    if clip.pos == len(clip.frames):
                        p.done = sent
                        self._queue.popleft()
                        if not clip.finished.done():
                            clip.finished.set_result(p)
                self.chunks_sent += 1
                next_t += FRAME_MS / 1000
                if late > 1.0:  # hopelessly behind (a stalled client): start afresh
                    self._stats.resyncs += 1
                    next_t = time.monotonic()
        except websockets.ConnectionClosed:
            pass
        finally:
            for clip in self._queue:
                if not clip.finished.done():
                    clip.finished.set_exception(ConnectionError("stream closed"))


@dataclass
class Ev:
    t: float
    data: dict[str, Any]

    @property
    def type(self) -> str:
        return str(self.data.get("type"))

    def is_(self, kind: str, role: str | None = None) -> bool:
        return self.type == kind and (role is None or self.data.get("role") == role)


@dataclass
class TurnResult:
    """One spoken input and the reply to it. Times in ms; None when not observed."""

    session: int
    turn: int  # index in the session's script
    kind: str  # plain | pause | barge (the question) | interjection (the barge-in speech)
    label: str
    speech_end_ms_since_start: float = 0.0
    final_text: str = ""  # the sentence (or second half) whose end is "speech end"
    final_start_chunk: int = -1
    final_last_voiced_chunk: int = -1
    vad_lag_ms: float | None = None  # server's speech end − client's (see bench/vad_lag.py)
    user_end_ms: float | None = None  # speech end → user turn_end (client)
    assistant_start_ms: float | None = None  # speech end → assistant turn_start (client)
    v2v_ms: float | None = None  # speech end → first reply audio frame (client)
    reply_turn_id: str | None = None
    reply_interrupted: bool = False
    reply_text: str = ""
    reply_audio_ms: float = 0.0
    gap_ms: float = 0.0  # playback underruns of the reply as the client received it
    gaps: int = 0
    server: dict[str, int] = field(default_factory=dict)  # history metadata.latency
    tts_ref_ms: float | None = None
    overhead_ms: float | None = None
    user_turns: int = 0  # user turns the server stored for this input
    discarded: int = 0  # user turns the server dropped (no words)
    user_texts: list[str] = field(default_factory=list)
    user_durations_ms: list[int] = field(default_factory=list)
    cutoff: bool = False  # pause turns: the server split the sentence
    early_reply: bool = False  # reply audio arrived before the second half was all sent
    barge_stop_ms: float | None = None  # onset → last reply audio frame before `interrupted`
    barge_event_ms: float | None = None  # onset → `interrupted` event
    barge_played_ms: int | None = None
    barge_received_ms: float | None = None  # reply audio received before `interrupted`
    barge_late_frames: int = 0  # reply audio frames after `interrupted`
    barge_exercised: bool = False
    timed_out: bool = False
    errors: list[str] = field(default_factory=list)


@dataclass
class SessionOutcome:
    index: int
    session_id: str = ""
    results: list[TurnResult] = field(default_factory=list)
    started: float = 0.0
    ended: float = 0.0
    error: str = ""


class SessionClient:
    def __init__(
        self,
        index: int,
        http_url: str,
        ws_url: str,
        key: str,
        responder: Responder,
        script: list[Turn],
        stats: ClientStats,
        rng: random.Random,
    ) -> None:
        self.index = index
        self.http_url = http_url
        self.ws_url = ws_url
        self.key = key
        self.responder = responder
        self.script = script
        self.stats = stats
        self.rng = rng
        self.events: list[Ev] = []
        self.audio: list[tuple[float, int]] = []  # (arrival, samples)
        self._changed = asyncio.Event()
        self._closed = False

    # --- plumbing -------------------------------------------------------------------

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for message in ws:
                now = time.monotonic()
                if isinstance(message, bytes):
                    self.audio.append((now, len(message) // 2))
                else:
                    self.events.append(Ev(now, json.loads(message)))
                self._changed.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            self._closed = True
            self._changed.set()

    async def _changes(self, until: float) -> None:
        self._changed.clear()
        left = until - time.monotonic()
        if left > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(left, 0.5))

    async def _wait_event(self, after: float, kind: str, timeout: float, **match: Any) -> Ev | None:
        deadline = time.monotonic() + timeout
        while True:
            found = [
                e
                for e in self.events
                if e.t > after
                and e.type == kind
                and all(e.data.get(k) == v for k, v in match.items())
            ]
            if found:
                return found[0]
            if time.monotonic() >= deadline or self._closed:
                return None
            await self._changes(deadline)

    async def _settle(self, i0: int, speech_end: float, quiet_s: float) -> bool:
        """Wait until the input was answered (or dropped) and the line has been quiet for
        `quiet_s` (the user's pause before the next turn). False on timeout."""
        deadline = time.monotonic() + TURN_TIMEOUT_S
        while time.monotonic() < deadline and not self._closed:
            later = [e for e in self.events[i0:] if e.t > speech_end]
            ends = [e for e in later if e.type == "turn_end" or e.type == "error"]
            last = ends[-1] if ends else None
            done = last is not None and (
                last.type == "error"
                or (last.data.get("role") == "assistant" and not last.data.get("interrupted"))
                or (last.data.get("role") == "user" and bool(last.data.get("discarded")))
            )
            if done:
                active = max(
                    [e.t for e in later]
                    + [t for t, _ in self.audio[-1:] if t > speech_end]
                    + [speech_end]
                )
                wait = active + quiet_s - time.monotonic()
                if wait <= 0:
                    return True
                await self._changes(time.monotonic() + wait)
                continue
            await self._changes(deadline)
        return False

    # --- a session ------------------------------------------------------------------

    async def run(
        self,
        http: httpx.AsyncClient,
        start_delay: float,
        deadline: float,
        out: SessionOutcome | None = None,
    ) -> SessionOutcome:
        """Create the conversation, talk, close, read the history, delete it. Turns are
        not started after `deadline`. Results go into `out` as they come (so a run cut
        short keeps them)."""
        out = out or SessionOutcome(self.index)
        headers = {"Authorization": f"Bearer {self.key}"}
        r = await http.post(
            f"{self.http_url}/v1/conversations/create",
            json={"voice_id": "espeak-en-us-female", "system_prompt": system_prompt(self.index)},
            headers=headers,
        )
        r.raise_for_status()
        out.session_id = sid = str(r.json()["session_id"])
        ws = await websockets.connect(
            f"{self.ws_url}/v1/conversations/{sid}/stream?sample_rate={RATE}&encoding=pcm16",
            additional_headers=headers,
            max_size=None,
            open_timeout=30,
        )
        reader = asyncio.create_task(self._read(ws))
        mic = Mic(ws, self.stats)
        sender = asyncio.create_task(mic.run())
        out.started = time.monotonic()
        try:
            if await self._wait_event(0.0, "session_started", 15.0) is None:
                raise RuntimeError("no session_started")
            await mic.idle(start_delay)
            for i, turn in enumerate(self.script):
                if time.monotonic() > deadline or self._closed:
                    break
                out.results.extend(await self._turn(mic, i, turn))
        except Exception as exc:  # a failed session is reported, not fatal to the run
            out.error = f"{type(exc).__name__}: {exc}"
        finally:
            out.ended = time.monotonic()
            mic.stopped = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(sender, 2)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 5)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(reader, 5)
            self.responder.want_long(self.index, False)
        try:
            await self._add_history(http, sid, headers, out.results)
        finally:
            with contextlib.suppress(httpx.HTTPError):
                await http.delete(f"{self.http_url}/v1/conversations/{sid}", headers=headers)
        return out

    async def _turn(self, mic: Mic, index: int, turn: Turn) -> list[TurnResult]:
        quiet = self.rng.uniform(0.6, 1.2)
        i0, a0 = len(self.events), len(self.audio)
        t0 = time.monotonic()
        if turn.kind == "plain":
            (p,) = await mic.play(speech(turn.text))
            ok = await self._settle(i0, _end(p), quiet)
            r = self._measure(index, turn.kind, turn.label, i0, a0, (p, turn.text), t0, not ok)
            return [r]
        if turn.kind == "pause":
            first, gap, second = await mic.play(
                speech(turn.text), silence(turn.pause_ms), speech(turn.second)
            )
            ok = await self._settle(i0, _end(second), quiet)
            final = (second, turn.second)
            r = self._measure(index, "pause", turn.label, i0, a0, final, t0, not ok)
            # reply audio while the user was still speaking: a reply to the first half
            early = [t for t, _ in self.audio[a0:] if _end(first) < t < _end(second)]
            r.early_reply = bool(early)
            r.cutoff = r.user_turns > 1 or r.early_reply
            return [r]
        return await self._barge_turn(mic, index, turn, quiet, i0, a0, t0)

    async def _barge_turn(
        self, mic: Mic, index: int, turn: Turn, quiet: float, i0: int, a0: int, t0: float
    ) -> list[TurnResult]:
        self.responder.want_long(self.index, True)
        try:
            (q,) = await mic.play(speech(turn.text))
            started = await self._wait_event(
                _end(q), "turn_start", TURN_TIMEOUT_S, role="assistant"
            )
        finally:
            self.responder.want_long(self.index, False)
        if started is None:
            r = self._measure(index, "barge", turn.label, i0, a0, (q, turn.text), t0, True)
            return [r]
        await mic.idle(self.rng.uniform(1.0, 2.0))  # let the long answer play a while
        i1, a1 = len(self.events), len(self.audio)
        (b,) = await mic.play(speech(turn.second))
        onset = b.first_voiced or b.first_sent or time.monotonic()
        interrupted = await self._wait_event(onset, "interrupted", 5.0)
        ok = await self._settle(i1, _end(b), quiet)
        question = self._measure(index, "barge", turn.label, i0, a0, (q, turn.text), t0, False, i1)
        if interrupted is not None:
            next_start = next(
                (
                    e.t
                    for e in self.events[i1:]
                    if e.t > interrupted.t and e.is_("turn_start", "assistant")
                ),
                float("inf"),
            )
            _barge_figures(question, self.audio[a0:], onset, interrupted, next_start)
        reply = self._measure(
            index, "interjection", turn.second, i1, a1, (b, turn.second), t0, not ok
        )
        return [question, reply]

    # --- measuring ------------------------------------------------------------------

    def _measure(
        self,
        index: int,
        kind: str,
        label: str,
        i0: int,
        a0: int,
        final: tuple[Played, str],
        t0: float,
        timed_out: bool,
        upto: int | None = None,
    ) -> TurnResult:
        """The figures of the input whose last part is `final` (send times, sentence),
        from the events since index `i0` (user turns counted up to index `upto`) and the
        audio since `a0`."""
        played, sentence = final
        speech_end = _end(played)
        r = TurnResult(self.index, index, kind, label, timed_out=timed_out)
        r.final_text = sentence
        r.final_start_chunk = played.start_chunk
        r.final_last_voiced_chunk = played.last_voiced_chunk
        r.speech_end_ms_since_start = (speech_end - t0) * 1000
        evs = self.events[i0:]
        own = self.events[i0:upto]
        users = [e for e in own if e.is_("turn_end", "user")]
        r.user_turns = sum(1 for e in users if e.data.get("turn_id"))
        r.discarded = sum(1 for e in users if e.data.get("discarded"))
        r.user_durations_ms = [int(e.data["duration_ms"]) for e in users if e.data.get("turn_id")]
        r.user_texts = [
            str(e.data.get("text"))
            for e in own
            if e.is_("transcript", "user") and e.data.get("is_final")
        ]
        r.errors = [
            f"{e.data.get('code')}: {e.data.get('message')}" for e in evs if e.type == "error"
        ]
        after = [e for e in evs if e.t > speech_end]
        user_end = next((e for e in after if e.is_("turn_end", "user")), None)
        if user_end is not None:
            r.user_end_ms = (user_end.t - speech_end) * 1000
        start = next((e for e in after if e.is_("turn_start", "assistant")), None)
        if start is None:
            return r
        r.assistant_start_ms = (start.t - speech_end) * 1000
        end = next((e for e in after if e.t >= start.t and e.is_("turn_end", "assistant")), None)
        cut = next((e for e in after if e.t >= start.t and e.type == "interrupted"), None)
        if end is not None:
            r.reply_turn_id = end.data.get("turn_id")
            r.reply_interrupted = bool(end.data.get("interrupted"))
        elif cut is not None:
            r.reply_turn_id = cut.data.get("turn_id")
            r.reply_interrupted = True
        stop = min(e.t for e in (end, cut) if e is not None) if (end or cut) else float("inf")
        frames = [(t, n) for t, n in self.audio[a0:] if speech_end < t <= stop]
        if frames:
            r.v2v_ms = (frames[0][0] - speech_end) * 1000
            r.reply_audio_ms = sum(n for _, n in frames) * 1000 / RATE
            r.gap_ms, r.gaps = _underruns(frames)
        return r

    async def _add_history(
        self, http: httpx.AsyncClient, sid: str, headers: dict[str, str], results: list[TurnResult]
    ) -> None:
        r = await http.get(f"{self.http_url}/v1/conversations/{sid}", headers=headers)
        r.raise_for_status()
        by_id = {t["turn_id"]: t for t in r.json().get("history", [])}
        for res in results:
            turn = by_id.get(res.reply_turn_id or "")
            if turn is None:
                continue
            res.reply_text = str(turn.get("text") or "")
            latency = (turn.get("metadata") or {}).get("latency") or {}
            res.server = {k: int(v) for k, v in latency.items()}


def _end(p: Played) -> float:
    return p.last_voiced or p.done or time.monotonic()


def _underruns(frames: list[tuple[float, int]]) -> tuple[float, int]:
    """Audible gaps if the client played the reply as it arrived (no jitter buffer
    beyond what the server's lead gives): total ms and count of gaps over 20 ms."""
    play_end = frames[0][0]
    total, count = 0.0, 0
    for t, n in frames:
        if t > play_end:
            gap = (t - play_end) * 1000
            if gap > 20:
                total += gap
                count += 1
            play_end = t
        play_end += n / RATE
    return total, count


def _barge_figures(
    r: TurnResult,
    audio: list[tuple[float, int]],
    onset: float,
    interrupted: Ev,
    next_start: float,
) -> None:
    r.barge_exercised = True
    r.barge_event_ms = (interrupted.t - onset) * 1000
    r.barge_played_ms = int(interrupted.data.get("played_ms") or 0)
    before = [(t, n) for t, n in audio if t <= interrupted.t]
    r.barge_received_ms = sum(n for _, n in before) * 1000 / RATE
    during = [t for t, _ in before if t >= onset]
    if during:
        r.barge_stop_ms = (during[-1] - onset) * 1000
    else:  # the reply had stopped sending before the user spoke (it had finished)
        r.barge_exercised = False
    # audio of the cut reply arriving after `interrupted` (before the next reply starts)
    r.barge_late_frames = sum(1 for t, _ in audio if interrupted.t < t < next_start)
