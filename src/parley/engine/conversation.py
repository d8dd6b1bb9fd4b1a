"""One live conversation, and the one place that decides who has the floor.

The transport feeds it 16 kHz audio (`feed_audio`) and control calls; it answers through
the attached `Sink` (`sink.py`) with events and reply audio. It outlives a dropped
connection: a reply in progress is finished and stored, and a new connection attaches.

Only this class moves the state machine (`state.py` lists every state and transition).
Its collaborators report facts — the listener: speech started or paused; the reply:
a sentence's audio went out; the answerer: user turn committed, tools called, results
in, reply over — and it decides.
A reply is one task and one visible sequence (`answering.py`):

    prepare (LLM starts) ─▶ gate (wait out the gap, store the user turn) ─▶ speak ─▶ commit

Turn ids come from the ledger (`ledger.py`), which stores turns in order before they are
announced (principle 9).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np

from parley.engine import events as ev
from parley.engine import floor
from parley.engine.answering import (
    Answerer,
    ReplyFact,
    ReplyOver,
    ToolResultsIn,
    ToolsCalled,
    UserTurnCommitted,
)
from parley.engine.endpointing import EndOfTurnDecided
from parley.engine.ledger import NewTurn, TurnLedger
from parley.engine.listener import Listener, SpeechPaused, SpeechStarted
from parley.engine.runtime import Runtime
from parley.engine.sink import Outlet, Sink
from parley.engine.state import (
    Ended,
    Endpointing,
    Listening,
    Phase,
    Preparing,
    Replying,
    Speaking,
    State,
    StateMachine,
    Thinking,
    ToolRunning,
    Transition,
    UserSpeaking,
)
from parley.engine.turns import ReplyJob, UserTurn, new_job
from parley.providers.stt.base import STTError, STTStream
from parley.providers.vad.detector import SpeechDetector
from parley.store.conversations import ConversationStore
from parley.store.records import ConversationRecord, TurnRecord
from parley.timeutil import utcnow

log = logging.getLogger("parley.engine")

Observer = Callable[[Transition | EndOfTurnDecided], None]


class Conversation:
    def __init__(
        self,
        record: ConversationRecord,
        runtime: Runtime,
        store: ConversationStore,
        stt: STTStream,
        turns: list[TurnRecord],
        vad_threshold: float = 0.5,
        observer: Observer | None = None,
    ) -> None:
        self.record = record
        self.id = record.id
        self.system_prompt = record.system_prompt
        self.voice_id = record.voice_id
        self._rt = runtime
        self._store = store
        self._clock = runtime.clock
        self._observers: list[Observer] = [observer] if observer else []
        self.sm = StateMachine(record.id, strict=runtime.strict_states, on_transition=self._tell)
        self.ledger = TurnLedger(store, record.id, turns, self.emit)
        self.listener = Listener(
            runtime.vad.stream(),
            SpeechDetector(
                threshold=max(0.01, vad_threshold),
                start_ms=runtime.vad_start_ms,
                stop_ms=runtime.vad_stop_ms,
            ),
            stt,
        )
        self.answerer = Answerer(self, runtime)
        self.out = Outlet(record.id)
        self._last_partial = ""
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False  # resources released (the conversation may live on elsewhere)
        self._heard: tuple[ReplyJob, float] | None = None  # see `heard_until`

    # --- what it is doing -----------------------------------------------------------

    @property
    def state(self) -> State:
        return self.sm.state

    @property
    def turns(self) -> list[TurnRecord]:
        return self.ledger.turns

    @property
    def _job(self) -> ReplyJob | None:
        phase = self.sm.phase
        return phase.job if isinstance(phase, Preparing | Replying) else None

    @property
    def busy(self) -> bool:
        """A reply is in progress."""
        return (job := self._job) is not None and job.running

    async def idle(self) -> None:
        """Return once no reply is in progress."""
        while (job := self._job) is not None and job.task is not None and not job.task.done():
            # `wait`, not a suppressed `await`: the reply's own failure or cancellation
            # is not ours, but the caller being cancelled must still cancel the caller
            await asyncio.wait({job.task})

    def observe(self, observer: Observer) -> None:
        self._observers.append(observer)

    def _tell(self, fact: Transition | EndOfTurnDecided) -> None:
        for observer in self._observers:
            observer(fact)

    def _go(self, phase: Phase, why: str) -> bool:
        return self.sm.go(phase, why, self.ledger.next_id)

    # --- the transport side ---------------------------------------------------------

    def attach(self, sink: Sink, vad_threshold: float) -> None:
        self.out.sink = sink
        self.listener.set_threshold(max(0.01, vad_threshold))

    async def connected(self) -> None:
        """The transport is ready for events (after its own `session_started`). On the
        first connection an agent session's `initial_message` is spoken at once."""
        greeting = self.record.initial_message
        if greeting and not self.turns and isinstance(self.sm.phase, Listening):
            self._say(greeting, "greeting")

    def detach(self, sink: Sink) -> None:
        if self.out.sink is not sink:
            return
        self.out.sink = None
        self.answerer.tool_calls.fail_all("the client disconnected before answering")
        phase = self.sm.phase
        if isinstance(phase, UserSpeaking | Endpointing):  # half-heard: dropped with the line
            if isinstance(phase, Endpointing):
                phase.decision.cancel()
            self.listener.drop_turn()
            self._spawn(self.listener.stt.cancel(), "stt_cancel")
            self._go(Listening(), "connection lost")

    async def emit(self, event: ev.Event) -> None:
        await self.out.event(event)

    async def _stt_failed(self, exc: STTError) -> None:
        await self.emit(ev.ErrorEvent(exc.code, exc.message))

    def _spawn(self, coro: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        task.set_name(f"{self.id}:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # --- listening ------------------------------------------------------------------

    def feed_audio(self, samples: np.ndarray) -> None:
        """16 kHz int16 audio from the user's microphone."""
        if self.sm.state is State.ENDED:
            return
        for event in self.listener.feed(samples, self._clock.now()):
            if isinstance(event, SpeechStarted):
                self._on_speech_start(event)
            else:
                self._on_speech_pause(event)

    def _on_speech_start(self, event: SpeechStarted) -> None:
        phase = self.sm.phase
        if isinstance(phase, Endpointing):
            phase.decision.cancel()
            self._go(UserSpeaking(phase.user), "speech resumed before the turn was decided")
            return
        if isinstance(phase, Preparing):
            # The decision was early: nothing was said or stored yet. Same turn.
            self._drop(phase.job)
            self.listener.reopen()
            self._go(UserSpeaking(phase.user), "user went on: same turn")
            return
        if not isinstance(phase, Listening | Replying):
            return
        user = UserTurn(started_at=utcnow(), start_ms=event.start_ms)
        self._last_partial = ""
        if isinstance(phase, Replying):
            self._cut(phase.job)
            self._go(UserSpeaking(user), "barge-in")
        else:
            self._go(UserSpeaking(user), "speech detected")
        self._spawn(self.emit(ev.TurnStart(role="user")), "turn_start")

    def on_partial(self, text: str) -> None:
        """An interim transcript from the recogniser, while the user speaks."""
        if not isinstance(self.sm.phase, UserSpeaking | Endpointing) or not text.strip():
            return
        if text != self._last_partial:
            self._last_partial = text
            self._spawn(self.emit(ev.TranscriptEvent("user", text, False)), "partial")

    def _on_speech_pause(self, event: SpeechPaused) -> None:
        phase = self.sm.phase
        if not isinstance(phase, UserSpeaking):
            return
        phase.user.last_voiced_ms = event.last_voiced_ms
        decision = self._spawn(self._decide_end_of_turn(phase.user), "endpoint")
        self._go(Endpointing(phase.user, decision), "user went quiet")

    async def _decide_end_of_turn(self, user: UserTurn) -> None:
        decision = await floor.end_of_turn(self._rt, self.listener, user, self.record)
        self._tell(decision)
        self.listener.close_turn()
        segment = self.listener.finish_segment(self._stt_failed)
        user.segments.append(self._spawn(segment, "stt_final"))
        job = self._new_job(user.speech_end_clock, user)
        self._go(Preparing(user, job), "end of turn decided")
        job.task = self._spawn(self.answerer.answer_speech(job, user), "reply")

    # --- replies --------------------------------------------------------------------

    def _new_job(self, origin: float, user: UserTurn | None = None) -> ReplyJob:
        return new_job(self._rt, self.out, self._sentence_out, self.voice_id, origin, user)

    def _say(self, text: str, why: str) -> None:
        """Speak a fixed text as an assistant turn (greeting, injected agent message)."""
        job = self._new_job(self._clock.now())
        self._go(Thinking(job), why)
        job.task = self._spawn(self.answerer.say(job, text, why), "reply")

    async def reply_fact(self, job: ReplyJob, fact: ReplyFact) -> None:
        """The answerer's facts about `job` (ignored once it is no longer the reply)."""
        if self._job is not job:
            return
        if isinstance(fact, UserTurnCommitted):
            self._go(Thinking(job), "user turn committed")
        elif isinstance(fact, ToolsCalled):
            self._go(ToolRunning(job), f"{fact.count} tool call(s)")
        elif isinstance(fact, ToolResultsIn):
            self._go(Thinking(job), "tool results in")
        elif isinstance(fact, ReplyOver):
            self._go(Listening(), fact.why)
            await self._check_limit()

    async def _sentence_out(self, job: ReplyJob, text_so_far: str, first: bool) -> None:
        """A sentence of `job` starts playing (`first`: the reply's first audio)."""
        if self._job is not job:
            return
        if first:
            # the same instant as the stored `first_audio_sent_ms`
            sent = job.reply.timings.first_audio_sent or self._clock.now()
            latency = int((sent - job.origin_clock) * 1000)
            await self.emit(ev.TurnStart(role="assistant", latency_ms=latency))
        if isinstance(self.sm.phase, Thinking):
            self._go(Speaking(job), "first reply audio" if first else "speaking again")
        await self.emit(ev.TranscriptEvent("assistant", text_so_far, False))

    def _drop(self, job: ReplyJob) -> None:
        """Stop a reply that has said nothing yet."""
        if job.task is not None:
            job.task.cancel()

    def _cut(self, job: ReplyJob, tell: bool = True) -> None:
        """Stop a reply now and keep what was heard: the user took the floor (`tell`:
        the client is sent `interrupted`, to drop the audio it still holds) or the
        conversation is ending."""
        played = self._played_ms(job)
        self._drop(job)
        if not job.reply.heard_anything:
            return

        async def heard(turn_id: str) -> NewTurn:
            if job.task is not None:
                await asyncio.wait({job.task})  # no audio after the `interrupted` event
            await self.out.audio_end(cut=True)
            if tell:
                await self.emit(ev.Interrupted(turn_id, int(played)))
            return self.answerer.turn(job, interrupted=True, played_ms=played)

        self.ledger.append(heard)

    # --- a played position reported by the client ------------------------------------

    def heard_until(self, played_ms: float) -> None:
        """The client reports that the current reply has played `played_ms` into its
        audio (e.g. Twilio echoing a mark): from now on a cut of this reply keeps the
        words heard by the latest report, not the pacer's estimate. Moves no state."""
        if (job := self._job) is not None:
            self._heard = (job, max(0.0, min(played_ms, job.reply.sent_ms)))

    def _played_ms(self, job: ReplyJob) -> float:
        if self._heard is not None and self._heard[0] is job:
            return self._heard[1]
        return job.reply.played_ms

    # --- typed input and live control -----------------------------------------------

    async def inject_user_message(self, text: str) -> None:
        """A typed user turn: same path as speech from the LLM on. Refused while the
        user's spoken turn is open (heard, or decided but not yet answered)."""
        phase = self.sm.phase
        if isinstance(phase, UserSpeaking | Endpointing | Preparing):
            await self.emit(
                ev.ErrorEvent("injection_refused", "The user is speaking; try again after.")
            )
            return
        if isinstance(phase, Replying):
            self._cut(phase.job)
            self._go(Listening(), "reply cut: user message injected")
        if not isinstance(self.sm.phase, Listening):
            return
        job = self._new_job(self._clock.now())
        self._go(Thinking(job), "user message injected")
        await self.emit(ev.TurnStart(role="user"))
        _, write = self.ledger.append(NewTurn("user", text, utcnow(), 0))
        job.task = self._spawn(self.answerer.answer_typed(job, write), "reply")

    async def inject_agent_message(self, text: str) -> None:
        """The assistant says `text` now, as its own turn; refused over the user or a reply."""
        if not isinstance(self.sm.phase, Listening):
            await self.emit(
                ev.ErrorEvent(
                    "injection_refused",
                    "The user is speaking or a reply is in progress; try again after.",
                )
            )
            return
        await self.emit(ev.Ack("agent_message_injected", {"text": text}))
        self._say(text, "agent message injected")

    async def update_prompt(self, prompt: str) -> None:
        """Replace the system prompt from the next reply on (stored)."""
        self.system_prompt = prompt
        await self._store.update_settings(self.id, system_prompt=prompt)
        await self.emit(ev.Ack("prompt_updated", {"prompt": prompt}))

    async def update_voice(self, voice_id: str) -> None:
        """Switch the voice from the next sentence on (stored); an unknown voice, or one
        of another language, gets an `unknown_voice` error."""
        if (problem := self._rt.voices.refusal(voice_id, self.record.language)) is not None:
            await self.emit(ev.ErrorEvent("unknown_voice", problem))
            return
        self.voice_id = voice_id
        if (job := self._job) is not None:
            job.reply.voice_id = voice_id
        await self._store.update_settings(self.id, voice_id=voice_id)
        await self.emit(ev.Ack("voice_updated", {"voice_id": voice_id}))

    def resolve_tool_result(self, call_id: str, result: Any, error: str | None) -> bool:
        """A client's `tool_result`; False when no call with that id is waiting."""
        return self.answerer.tool_calls.resolve(call_id, result, error)

    # --- the end --------------------------------------------------------------------

    async def _check_limit(self) -> None:
        limit = self.record.max_turns
        if limit is not None and len(self.ledger) >= limit:
            await self.end("max_turns")

    async def end(self, reason: str) -> None:
        """End the conversation: stop any reply, store what was heard, tell the client."""
        phase = self.sm.phase
        if isinstance(phase, Ended):
            return
        job = self._job
        if job is not None and job.task is asyncio.current_task():
            job = None  # the reply itself ends the conversation (max_turns): it is done
        if isinstance(phase, Endpointing):
            phase.decision.cancel()
        if isinstance(phase, Preparing):
            # the reply was still being prepared: the user's turn was heard, keep it
            self._drop(phase.job)
            if text := await phase.user.transcript(self._clock):
                turn = NewTurn("user", text, phase.user.started_at, phase.user.duration_ms)
                self.ledger.append(turn)
        elif job is not None:
            self._cut(job, tell=False)
        if job is not None and job.task is not None:
            await asyncio.wait({job.task})
        await self.ledger.drain()  # a cut reply or a typed turn still being stored
        self._go(Ended(reason), reason)
        await self._store.end(self.id)
        await self.emit(ev.SessionEnded(reason))
        await self.close()

    async def close(self) -> None:
        """Release per-conversation resources (the STT stream, background tasks)."""
        if self._closed:
            return
        self._closed = True
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current and not task.done():
                task.cancel()
        with contextlib.suppress(Exception):
            await self.listener.stt.close()
