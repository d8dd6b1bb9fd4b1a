"""What the conversation keeps about the turns in progress: the user's and the reply's."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from parley.clock import Clock
from parley.engine.reply import Reply
from parley.engine.runtime import Runtime
from parley.engine.sink import Outlet


@dataclass
class UserTurn:
    """The user turn being heard (its state says whether it is still open)."""

    started_at: datetime
    start_ms: int
    last_voiced_ms: int = 0
    speech_end_clock: float = 0.0  # clock time the user went quiet
    eot_clock: float = 0.0
    stt_final_clock: float = 0.0
    hold_ms: float = 0.0  # the ready reply waited this long before its first audio
    capped_ms: int | None = None  # stream time it was last cut at its maximum length
    # Final transcripts of the turn's segments: a turn decided too early and taken up
    # again by the user (before any reply audio) is one turn of several segments.
    segments: list[asyncio.Task[str]] = field(default_factory=list)

    @property
    def duration_ms(self) -> int:
        return max(0, self.last_voiced_ms - self.start_ms)

    async def transcript(self, clock: Clock) -> str:
        """The final transcript: its segments', once decoded."""
        texts = [await asyncio.shield(segment) for segment in self.segments]
        self.stt_final_clock = clock.now()
        return " ".join(t for t in texts if t)


@dataclass
class ReplyJob:
    """One reply: its task (cancelled as a unit), its speech, and what the latency
    breakdown needs about the turn it answers."""

    reply: Reply
    origin_clock: float  # user speech end (or injection time)
    user: UserTurn | None = None  # the spoken turn it answers
    tool_log: list[dict[str, Any]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()


SentenceOut = Callable[["ReplyJob", str, bool], Awaitable[None]]


class JobOutput:
    """Where one reply's speech goes (`ReplyOutput`): audio to the outlet, and the fact
    that a sentence starts playing to the conversation, which decides what it means."""

    def __init__(self, outlet: Outlet, report: SentenceOut) -> None:
        self._outlet = outlet
        self._report = report
        self.job: ReplyJob | None = None

    async def audio(self, samples: np.ndarray, sample_rate: int) -> None:
        await self._outlet.audio(samples, sample_rate)

    async def sentence_out(self, text_so_far: str, first: bool) -> None:
        assert self.job is not None
        await self._report(self.job, text_so_far, first)


def new_job(
    rt: Runtime,
    outlet: Outlet,
    report: SentenceOut,
    voice_id: str,
    origin: float,
    user: UserTurn | None = None,
) -> ReplyJob:
    """A reply, not started: its task is set by whoever starts it."""
    out = JobOutput(outlet, report)
    reply = Reply(voices=rt, voice_id=voice_id, clock=rt.clock, out=out, lead_ms=rt.lead_ms)
    out.job = job = ReplyJob(reply=reply, origin_clock=origin, user=user)
    return job


def latency_breakdown(job: ReplyJob) -> dict[str, Any]:
    """The per-turn latency breakdown stored in the assistant turn's metadata: clock
    milestones in ms from the user's speech end (or the injection), plus the LLM's own
    time to first token."""
    t = job.reply.timings
    origin = job.origin_clock

    def since(mark: float | None) -> int | None:
        return None if mark is None else int((mark - origin) * 1000)

    latency: dict[str, Any] = {
        "llm_first_token_ms": since(t.llm_first_token),
        "tts_first_audio_ms": since(t.tts_first_audio),
        "first_audio_sent_ms": since(t.first_audio_sent),
    }
    if job.user is not None:
        latency["end_of_turn_ms"] = since(job.user.eot_clock)
        latency["stt_final_ms"] = since(job.user.stt_final_clock)
        # deliberate: the reply was ready and waited (the speaking gap, resumed speech)
        latency["first_audio_hold_ms"] = int(job.user.hold_ms)
    if t.llm_first_token is not None:
        latency["llm_ttft_ms"] = int((t.llm_first_token - t.started) * 1000)
    return {"latency": {k: v for k, v in latency.items() if v is not None}}
