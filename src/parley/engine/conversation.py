"""One live conversation, and the one place that decides who has the floor.

The transport feeds it 16 kHz audio (`feed_audio`) and control calls; it answers through
its `Sink` (`sink.py`). It outlives a dropped connection: a reply in progress is finished
and stored, and a new connection attaches. Only this class moves the state machine
(`state.py`: every state and transition). Its collaborators report facts — the listener:
speech started, paused, a voice over the reply; the reply: a sentence's audio went out;
the answerer (one visible sequence per reply: prepare ─▶ gate ─▶ speak ─▶ commit): user
turn committed, tools called, results in, reply over; the yielder: resume or interrupt a
paused reply — and it decides. Turn ids and storage order: `ledger.py`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
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
from parley.engine.ending import keep_user_turn
from parley.engine.ledger import NewTurn, TurnLedger
from parley.engine.limits import Watchdog
from parley.engine.listener import AudioDropped, Listener, SpeechPaused, SpeechStarted, VoiceOnset
from parley.engine.live import LiveParts, Observer
from parley.engine.persona import Persona
from parley.engine.runtime import Runtime
from parley.engine.sink import Sink
from parley.engine.state import (
    Ended,
    Endpointing,
    Listening,
    Paused,
    Phase,
    Preparing,
    Replying,
    Speaking,
    State,
    StateMachine,
    Thinking,
    ToolRunning,
    UserSpeaking,
    replying,
)
from parley.engine.turns import ReplyJob, UserTurn, latency_breakdown, new_job
from parley.engine.yielding import Yielder, YieldSettings
from parley.providers.stt.base import STTStream
from parley.store.conversations import ConversationStore
from parley.store.records import ConversationRecord, TurnRecord
from parley.timeutil import utcnow

log = logging.getLogger("parley.engine")


class Conversation(LiveParts):
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
        self.persona = Persona(record, store, runtime.voices)
        self._rt = runtime
        self._store = store
        self._clock = runtime.clock
        super().__init__(record.id, observer)
        self.out.observe = runtime.metrics.observe
        self.sm = StateMachine(record.id, strict=runtime.strict_states, on_transition=self._tell)
        self.ledger = TurnLedger(store, record.id, turns, self.emit)
        self.listener = Listener.of(runtime, stt, vad_threshold)
        self.answerer = Answerer(self, runtime)
        self._yielder = Yielder(
            self, self._clock, record.language, YieldSettings.from_settings(record.settings)
        )
        self._last_partial = ""
        self.watchdog = Watchdog.of(self, runtime, record)  # idle, duration, expiry
        self._observers.append(self.watchdog.observe)
        self.spawn(self.watchdog.run(), "limits")  # idle, duration, expiry: limits.py

    state = property(lambda self: self.sm.state, doc="The state (`sm.phase` has its data).")

    system_prompt = property(lambda self: self.persona.system_prompt)

    turns = property(lambda self: self.ledger.turns, doc="Stored turns, in order.")

    @property
    def _job(self) -> ReplyJob | None:
        phase = self.sm.phase
        return phase.job if isinstance(phase, Preparing | Replying | Paused) else None

    busy = property(lambda self: (job := self._job) is not None and job.running, doc="A reply.")

    async def idle(self) -> None:
        """Return once no reply is in progress."""
        while (job := self._job) is not None and job.task is not None and not job.task.done():
            await asyncio.wait({job.task})  # its failure is not ours; our cancellation is

    def _turns_used_up(self) -> bool:
        return (limit := self.record.max_turns) is not None and self.ledger.reserved >= limit

    def _go(self, phase: Phase, why: str) -> bool:  # the only mover of the state machine
        return self.sm.go(phase, why, self.ledger.next_id)

    # --- the transport side ---------------------------------------------------------

    def attach(self, sink: Sink, vad_threshold: float) -> None:
        self.out.sink = sink
        self.listener.set_threshold(max(0.01, vad_threshold))

    async def connected(self) -> None:
        """The transport is ready (after its hello): an agent's `initial_message` is said."""
        greeting = self.record.initial_message
        if greeting and not self.turns and isinstance(self.sm.phase, Listening):
            self._say(greeting, "greeting")

    def detach(self, sink: Sink) -> None:
        if self.out.sink is not sink:
            return
        self.out.sink = None
        self.answerer.tool_calls.fail_all("the client disconnected before answering")
        phase = self.sm.phase
        if isinstance(phase, Paused):  # nobody left to decide: the reply plays on, is stored
            self.resume(phase, "connection lost: resumed")
        if isinstance(phase, UserSpeaking | Endpointing):  # half-heard: dropped with the line
            if isinstance(phase, Endpointing):
                phase.decision.cancel()
            self._forget_speech()
            self._go(Listening(), "connection lost")

    # --- listening ------------------------------------------------------------------

    def feed_audio(self, samples: np.ndarray) -> None:
        """16 kHz int16 audio from the user's microphone."""
        if self.sm.state is State.ENDED:
            return
        for event in self.listener.feed(samples, self._clock.now()):
            if isinstance(event, SpeechStarted):
                self._on_speech_start(event)
            elif isinstance(event, SpeechPaused):
                self._on_speech_pause(event)
            elif isinstance(event, VoiceOnset):
                self._on_voice_onset()
            elif isinstance(event, AudioDropped):
                self.spawn(self.emit(ev.audio_too_fast(event.seconds)), "audio_too_fast")
            elif isinstance(phase := self.sm.phase, Paused) and phase.user is None:
                self._yielder.voice_gone(phase)
        phase = self.sm.phase
        if isinstance(phase, UserSpeaking) and self._turn_too_long(phase.user):
            self._cap_turn(phase.user)

    def _turn_too_long(self, user: UserTurn) -> bool:
        """Whether the turn has lasted its maximum (since it began, or since it was last
        capped: a user who goes on is heard in capped segments)."""
        since = user.start_ms if user.capped_ms is None else user.capped_ms
        return self.listener.stream_ms - since >= self.watchdog.limits.max_utterance_s * 1000

    def _cap_turn(self, user: UserTurn) -> None:
        """The user turn reached its maximum length: it ends here and is answered at once
        (no silence to wait for; a noise that never stops makes one capped turn)."""
        self.listener.cut_speech()
        user.last_voiced_ms = user.capped_ms = self.listener.stream_ms
        decision = self._spawn(self._decide_end_of_turn(user, capped=True), "endpoint")
        self._go(Endpointing(user, decision), "the turn reached its maximum length")

    def _on_speech_start(self, event: SpeechStarted) -> None:
        phase = self.sm.phase
        if isinstance(phase, Endpointing):
            phase.decision.cancel()
            self._go(UserSpeaking(phase.user), "speech resumed before the turn was decided")
            return
        if isinstance(phase, Preparing):
            # The decision was early: nothing was said or stored yet. Same turn.
            self.answerer.drop(phase.job)
            self.listener.reopen()
            self._go(UserSpeaking(phase.user), "user went on: same turn")
            return
        mode = self._yielder.settings.interruption
        if isinstance(phase, Replying) and mode == "adaptive":
            self._on_voice_onset()  # the reply began while the voice was already there
            phase = self.sm.phase
        if isinstance(phase, Paused) and phase.user is None:
            user = UserTurn(started_at=utcnow(), start_ms=event.start_ms)
            self.sm.amend(confirmed := dataclasses.replace(phase, user=user))
            self._yielder.speech_confirmed(confirmed)
            return
        if not isinstance(phase, Listening | Replying) or (
            isinstance(phase, Replying) and mode == "none"
        ):
            return
        user = UserTurn(started_at=utcnow(), start_ms=event.start_ms)
        self._last_partial = ""
        if isinstance(phase, Replying):
            self.answerer.cut(phase.job)
            self._go(UserSpeaking(user), "barge-in")
        else:
            self._go(UserSpeaking(user), "speech detected")
        self._spawn(self.emit(ev.TurnStart(role="user")), "turn_start")

    def on_partial(self, text: str) -> None:
        """An interim transcript from the recogniser, while the user speaks."""
        phase = self.sm.phase
        if isinstance(phase, Paused) and phase.user is not None:
            self._yielder.words(phase, text)
            return
        if not isinstance(self.sm.phase, UserSpeaking | Endpointing) or not text.strip():
            return
        if text != self._last_partial:
            self._last_partial = text
            self._spawn(self.emit(ev.TranscriptEvent("user", text, False)), "partial")

    def _on_speech_pause(self, event: SpeechPaused) -> None:
        phase = self.sm.phase
        if isinstance(phase, Paused) and phase.user is not None:
            phase.user.last_voiced_ms = event.last_voiced_ms
            self._yielder.speech_over(phase, self._close_segment(phase.user))
            return
        if isinstance(phase, Replying):  # speech the assistant does not yield to
            self._forget_speech()
            return
        if not isinstance(phase, UserSpeaking):
            return
        phase.user.last_voiced_ms = event.last_voiced_ms
        decision = self._spawn(self._decide_end_of_turn(phase.user), "endpoint")
        self._go(Endpointing(phase.user, decision), "user went quiet")

    async def _decide_end_of_turn(self, user: UserTurn, capped: bool = False) -> None:
        decision = await floor.end_of_turn(self._rt, self.listener, user, self.record, capped)
        self._tell(decision)
        if self.listener.capturing:  # (an interruption's first words are decoded already)
            self._close_segment(user)
        job = self._new_job(user.speech_end_clock, user)
        self._go(Preparing(user, job), "end of turn decided")
        job.task = self._spawn(self.answerer.answer_speech(job, user), "reply")

    def _forget_speech(self) -> None:
        """Drop the speech being captured, transcript and all."""
        self.listener.drop_turn()
        self._spawn(self.listener.stt.cancel(), "stt_cancel")

    def _close_segment(self, user: UserTurn) -> asyncio.Task[str]:
        """Stop capturing: the recogniser finishes what the user said since it began."""
        self.listener.close_turn()
        segment = self._spawn(self.listener.finish_segment(self._stt_failed), "stt_final")
        user.segments.append(segment)
        return segment

    # --- yielding the floor (yielding.py decides, this moves) -----------------------

    def _on_voice_onset(self) -> None:
        phase = self.sm.phase
        if not isinstance(phase, Replying) or self._yielder.settings.interruption != "adaptive":
            return
        job = phase.job
        job.reply.pause()
        paused = Paused(job, phase.state, self._clock.now())
        self._go(paused, "voice over the reply")
        self._yielder.paused(paused)
        self._spawn(self.emit(ev.ReplyPaused(int(job.reply.played_ms))), "reply_paused")

    def resume(self, paused: Paused, why: str) -> None:
        job = paused.job
        held_at = int(job.reply.played_ms)  # read while held: the same as reply_paused's
        from_ms = job.reply.resume()  # from the start of a word the pause cut
        self._go(replying(paused.back_to, job), why)
        if self.listener.capturing:  # a backchannel is not a turn
            self._forget_speech()
        self._spawn(self.emit(ev.ReplyResumed(held_at, int(from_ms))), "reply_resumed")

    def interrupt(self, paused: Paused, why: str) -> None:
        """Cut the paused reply (what was heard: up to the pause); the speech is a turn."""
        assert paused.user is not None
        self.answerer.cut(paused.job)
        user = paused.user
        self._last_partial = ""
        if self.listener.capturing:
            self._go(UserSpeaking(user), why)
        else:
            decision = self._spawn(self._decide_end_of_turn(user), "endpoint")
            self._go(Endpointing(user, decision), why)
        self._spawn(self.emit(ev.TurnStart(role="user")), "turn_start")

    # --- replies --------------------------------------------------------------------

    def _new_job(self, origin: float, user: UserTurn | None = None) -> ReplyJob:
        voice = self.persona.voice_id
        return new_job(self._rt, self.out, self._sentence_out, voice, origin, user)

    def _say(self, text: str, why: str) -> None:
        """Speak a fixed text as an assistant turn (greeting, injected agent message)."""
        job = self._new_job(self._clock.now())
        self._go(Thinking(job), why)
        job.task = self._spawn(self.answerer.say(job, text, why), "reply")

    async def reply_fact(self, job: ReplyJob, fact: ReplyFact) -> None:
        """The answerer's facts about `job` (ignored once it is no longer the reply)."""
        if self._job is not job:
            return
        phase = self.sm.phase
        if isinstance(phase, Paused) and isinstance(fact, ToolsCalled | ToolResultsIn):
            back = State.TOOL_RUNNING if isinstance(fact, ToolsCalled) else State.THINKING
            self.sm.amend(dataclasses.replace(phase, back_to=back))  # resumes there
            return
        if isinstance(fact, UserTurnCommitted):
            self._go(Thinking(job), "user turn committed")
        elif isinstance(fact, ToolsCalled):
            self._go(ToolRunning(job), f"{fact.count} tool call(s)")
        elif isinstance(fact, ToolResultsIn):
            self._go(Thinking(job), "tool results in")
        elif isinstance(fact, ReplyOver):
            self._go(Listening(), fact.why)
            if self._turns_used_up():
                await self.end("max_turns")

    async def _sentence_out(self, job: ReplyJob, text_so_far: str, first: bool) -> None:
        """A sentence of `job` starts playing (`first`: the reply's first audio)."""
        if self._job is not job:
            return
        if first:
            # the same instant as the stored `first_audio_sent_ms`
            sent = job.reply.timings.first_audio_sent or self._clock.now()
            latency = int((sent - job.origin_clock) * 1000)
            breakdown = latency_breakdown(job)["latency"]
            await self.emit(ev.TurnStart("assistant", latency_ms=latency, breakdown=breakdown))
        if isinstance(self.sm.phase, Thinking):
            self._go(Speaking(job), "first reply audio" if first else "speaking again")
        await self.emit(ev.TranscriptEvent("assistant", text_so_far, False))

    # --- typed input and live control -----------------------------------------------

    async def inject_user_message(self, text: str, meta: dict[str, Any] | None = None) -> None:
        """A typed user turn (same path as speech from the LLM on; `meta`: stored with
        it); refused while the user's spoken turn is open."""
        phase = self.sm.phase
        if isinstance(phase, UserSpeaking | Endpointing | Preparing | Paused):
            return await self._refuse("The user is speaking.")
        if isinstance(phase, Replying):
            self.answerer.cut(phase.job)
            self._go(Listening(), "reply cut: user message injected")
        if self._turns_used_up():  # a burst of messages, each cutting the reply before
            return await self.end("max_turns")
        if not isinstance(self.sm.phase, Listening):
            return
        job = self._new_job(self._clock.now())
        self._go(Thinking(job), "user message injected")
        await self.emit(ev.TurnStart(role="user"))
        _, write = self.ledger.append(NewTurn("user", text, utcnow(), 0, meta=meta))
        job.task = self._spawn(self.answerer.answer_typed(job, text, write), "reply")

    def cancel_reply(self, why: str = "reply cancelled by the client") -> bool | None:
        """A client's cancel (`response.cancel`): cut the reply, keep what was heard. None:
        no reply under way; else whether a (cut) assistant turn will be stored."""
        if not isinstance(phase := self.sm.phase, Replying | Paused):
            return None
        heard = phase.job.reply.heard_anything
        self.answerer.cut(phase.job)
        self._go(Listening(), why)
        return heard

    async def inject_agent_message(self, text: str) -> None:
        """The assistant says `text` now, as its own turn; refused over the user or a reply."""
        if not isinstance(self.sm.phase, Listening):
            return await self._refuse("The user is speaking or a reply is in progress.")
        await self.emit(ev.Ack("agent_message_injected", {"text": text}))
        self._say(text, "agent message injected")

    async def _refuse(self, why: str) -> None:
        await self.emit(ev.ErrorEvent("injection_refused", f"{why} Try again after."))

    async def update_prompt(self, prompt: str) -> None:
        """Replace the system prompt from the next reply on (stored)."""
        await self.emit(await self.persona.set_prompt(prompt))

    async def update_voice(self, voice_id: str) -> None:
        """Switch the voice from the next sentence on (stored, checked)."""
        event = await self.persona.set_voice(voice_id)
        if (job := self._job) is not None:
            job.reply.voice_id = self.persona.voice_id
        await self.emit(event)

    def heard_until(self, played_ms: float) -> None:  # the client's played position
        if (job := self._job) is not None:
            job.reply.heard_until(played_ms)

    def resolve_tool_result(self, call_id: str, result: Any, error: str | None) -> bool:
        return self.answerer.tool_calls.resolve(call_id, result, error)  # False: none waits

    # --- the end --------------------------------------------------------------------

    async def end(self, reason: str) -> None:
        """End the conversation: stop any reply, store what was heard, tell the client."""
        if await self._wind_down(reason):
            await self._store.end(self.id, "expired" if reason == "expired" else "ended", reason)
            await self.emit(ev.SessionEnded(reason))
            await self.close()

    async def suspend(self, why: str) -> None:
        """The server is going away, the session is not: as `end`, but it stays live in
        the store (a client reconnects to it on the next server)."""
        if await self._wind_down(why):
            await self.close()

    async def _wind_down(self, reason: str) -> bool:
        """Stop any reply and store what was heard; False if it was over already."""
        phase = self.sm.phase
        if isinstance(phase, Ended):
            return False
        job = self._job  # (none when the reply itself ends it: max_turns, after it was over)
        if isinstance(phase, Endpointing):
            phase.decision.cancel()
        if isinstance(phase, Preparing):  # nothing said yet
            self.answerer.drop(phase.job)
        elif job is not None:
            self.answerer.cut(job, tell=False)
        # the user's turn in flight was heard: keep it (ending.py)
        await keep_user_turn(phase, self.listener, self.ledger, self._clock, self._close_segment)
        if job is not None and job.task is not None:
            await asyncio.wait({job.task})
        await self.ledger.drain()  # a cut reply or a typed turn still being stored
        return self._go(Ended(reason), reason)

    async def _release(self) -> None:
        await self.listener.stt.close()
