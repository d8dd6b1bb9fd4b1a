"""One live conversation: the turn-taking state machine (see `state.py` for the picture).

The transport feeds it 16 kHz audio (`feed_audio`) and control calls; it answers through
the attached `Sink` with events and reply audio. It outlives a dropped connection: a
reply in progress is finished and stored, and a new connection attaches to it.

This module decides who has the floor: it hears the user's turn and decides its end,
takes typed input and live control, and cuts a reply short on barge-in. The replies
themselves (LLM and tool rounds, speaking, storing the assistant turn) are in
`answering.py`. Turns are stored before their `turn_end` is announced (principle 9).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from typing import Any

import numpy as np

from parley.engine import events as ev
from parley.engine.answering import Answerer
from parley.engine.listener import Listener, SpeechPaused, SpeechStarted
from parley.engine.runtime import Runtime
from parley.engine.state import REPLYING, State, StateMachine
from parley.engine.tools import ToolCalls
from parley.engine.turns import Sink, UserTurn
from parley.ids import turn_id as make_turn_id
from parley.providers.stt.base import STTError, STTStream
from parley.providers.vad.detector import SpeechDetector
from parley.store.conversations import ConversationStore
from parley.store.records import ConversationRecord, TurnRecord
from parley.timeutil import utcnow

log = logging.getLogger("parley.engine")


class Conversation:
    def __init__(
        self,
        record: ConversationRecord,
        runtime: Runtime,
        store: ConversationStore,
        stt: STTStream,
        turns: list[TurnRecord],
        vad_threshold: float = 0.5,
    ) -> None:
        self.record = record
        self.id = record.id
        self.system_prompt = record.system_prompt
        self.voice_id = record.voice_id
        self._rt = runtime
        self._store = store
        self._clock = runtime.clock
        self.sm = StateMachine(record.id)
        self.turns: list[TurnRecord] = list(turns)
        self.listener = Listener(
            runtime.vad.stream(),
            SpeechDetector(
                threshold=max(0.01, vad_threshold),
                start_ms=runtime.vad_start_ms,
                stop_ms=runtime.vad_stop_ms,
            ),
            stt,
        )
        self._sink: Sink | None = None
        self._user: UserTurn | None = None
        self._last_partial = ""
        self._endpoint: asyncio.Task[None] | None = None
        self._finalizing: asyncio.Task[None] | None = None
        # Turns being stored outside the reply task: `end()` waits for them (history
        # is never lost to a session ending at the wrong moment).
        self._commits: set[asyncio.Task[Any]] = set()
        self._commit_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.answerer = Answerer(
            record,
            runtime,
            self.sm,
            self.turns,
            system_prompt=lambda: self.system_prompt,
            voice=lambda: self.voice_id,
            out_rate=self._out_rate,
            emit=self.emit,
            audio_out=self._audio_out,
            spawn=self._spawn,
            store_turn=self._store_turn,
            check_limit=self._check_limit,
        )
        self.closed = asyncio.Event()

    # --- attachment -----------------------------------------------------------------

    @property
    def state(self) -> State:
        return self.sm.state

    @property
    def busy(self) -> bool:
        """A reply is in progress."""
        return self.answerer.busy

    async def idle(self) -> None:
        """Return once no reply is in progress."""
        await self.answerer.idle()

    @property
    def tool_calls(self) -> ToolCalls:
        """Client tool calls waiting for a `tool_result`."""
        return self.answerer.tool_calls

    def resolve_tool_result(self, call_id: str, result: Any, error: str | None) -> bool:
        """A client's `tool_result`; False when no call with that id is waiting."""
        return self.tool_calls.resolve(call_id, result, error)

    def attach(self, sink: Sink, vad_threshold: float) -> None:
        self._sink = sink
        self.listener.set_threshold(max(0.01, vad_threshold))

    def detach(self, sink: Sink) -> None:
        if self._sink is sink:
            self._sink = None
            self.tool_calls.fail_all("the client disconnected before answering")
            # A user turn half-heard when the line dropped is dropped with it.
            if self.sm.state in (State.USER_SPEAKING, State.ENDPOINTING):
                self._abandon_user_turn("connection lost")

    async def emit(self, event: ev.Event) -> None:
        sink = self._sink
        if sink is None:
            return
        try:
            await sink.event(event)
        except Exception:  # a broken connection must not break the conversation
            log.debug("session=%s event dropped: %r", self.id, event, exc_info=True)

    def _out_rate(self) -> int:
        sink = self._sink
        return sink.out_rate if sink is not None else 16000

    async def _audio_out(self, samples: np.ndarray) -> None:
        sink = self._sink
        if sink is None:
            return
        try:
            await sink.audio(samples)
        except Exception:
            log.debug("session=%s audio dropped", self.id, exc_info=True)

    def _spawn(self, coro: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        task.set_name(f"{self.id}:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _spawn_commit(self, coro: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        task = self._spawn(coro, name)
        self._commits.add(task)
        task.add_done_callback(self._commits.discard)
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
        state = self.sm.state
        if state is State.ENDPOINTING and self._user is not None:
            if self._endpoint is not None:
                self._endpoint.cancel()
            self.sm.go(State.USER_SPEAKING, "speech resumed before the turn was decided")
            return
        if self._continue_user_turn():
            return
        if state in REPLYING:
            self._barge_in(State.USER_SPEAKING, "barge-in")
        elif state is not State.LISTENING:
            return
        self._user = UserTurn(started_at=utcnow(), start_ms=event.start_ms)
        self._last_partial = ""
        self.sm.turn = make_turn_id(len(self.turns) + 1)
        self.sm.go(State.USER_SPEAKING, "speech detected")
        self._spawn(self.emit(ev.TurnStart(role="user")), "turn_start")

    def on_partial(self, text: str) -> None:
        """An interim transcript from the recogniser, while the user speaks."""
        if self.sm.state not in (State.USER_SPEAKING, State.ENDPOINTING) or not text.strip():
            return
        if text != self._last_partial:
            self._last_partial = text
            self._spawn(self.emit(ev.TranscriptEvent("user", text, False)), "partial")

    def _on_speech_pause(self, event: SpeechPaused) -> None:
        if self.sm.state is not State.USER_SPEAKING or self._user is None:
            return
        user = self._user
        user.last_voiced_ms = event.last_voiced_ms
        self.sm.go(State.ENDPOINTING, "user went quiet")
        self._endpoint = self._spawn(self._decide_end_of_turn(user), "endpoint")

    async def _decide_end_of_turn(self, user: UserTurn) -> None:
        """Wait for as much silence as the signals ask for (see endpointing.py).

        Silence is re-measured after every wait: a voiced frame (the user drawing breath
        to go on) resets it at once, before the detector confirms speech again.
        """
        speech_ms = user.last_voiced_ms - user.start_ms
        policy = self._rt.policy
        probability = None
        if policy.needs_model(speech_ms):
            probability = await self._rt.predict_turn(self.listener.turn_audio())
        # read after the model: the recogniser catches up meanwhile
        stt = self.listener.stt
        words = stt.partial() if stt.interim else None
        need_ms = policy.required_silence_ms(probability, words, speech_ms, self.record.language)
        while (quiet := self.listener.silence_ms(self._clock.now())) < need_ms:
            # at least 1 ms: a float remainder far below the clock's resolution would
            # wake at the same instant forever (it did, on the virtual clock)
            await self._clock.sleep(max(need_ms - quiet, 1.0) / 1000)
        if self.sm.state is not State.ENDPOINTING or self._user is not user:
            return
        user.speech_end_clock = self.listener.last_voiced_clock
        user.eot_clock = self._clock.now()
        log.info(
            "session=%s end of turn: p=%s need=%dms speech=%dms",
            self.id,
            None if probability is None else round(probability, 3),
            need_ms,
            speech_ms,
        )
        self._user = None
        self.listener.close_turn()
        user.segments.append(self._spawn(self._finish_segment(), "stt_final"))
        self.sm.go(State.THINKING, "end of turn decided")
        self.answerer.start(self._reply_to_speech(user), origin=user.speech_end_clock, user=user)

    def _continue_user_turn(self) -> bool:
        """The user speaks again after their turn was decided, before any reply audio:
        the decision was early. Drop the reply in preparation; the turn goes on."""
        pending = self.answerer.pending
        if (
            self.sm.state is not State.THINKING
            or pending is None
            or pending.user is None
            or pending.user.committed
            or (pending.reply is not None and pending.reply.started_audio)
        ):
            return False
        self.answerer.cut()
        self._user = pending.user
        self.listener.reopen()
        self.sm.go(State.USER_SPEAKING, "user went on: same turn")
        return True

    async def _finish_segment(self) -> str:
        try:
            return (await self.listener.stt.finish()).strip()
        except STTError as exc:
            await self.emit(ev.ErrorEvent(exc.code, exc.message))
            return ""
        finally:
            self.listener.release()

    def _abandon_user_turn(self, why: str) -> None:
        if self._endpoint is not None:
            self._endpoint.cancel()
        self._user = None
        self.listener.drop_turn()
        self._spawn(self.listener.stt.cancel(), "stt_cancel")
        self.sm.go(State.LISTENING, why)

    async def _after_finalizing(self) -> None:
        """An interrupted reply is stored first: history keeps the order things happened."""
        if self._finalizing is not None:
            await asyncio.wait({self._finalizing})

    async def _user_text(self, user: UserTurn) -> str:
        texts = [await asyncio.shield(segment) for segment in user.segments]
        user.stt_final_clock = self._clock.now()
        return " ".join(t for t in texts if t)

    async def _commit_spoken_turn(self, user: UserTurn, text: str) -> TurnRecord | None:
        """Store the user turn and announce it (transcript + turn_end). None: no words."""
        if user.committed:
            return None
        user.committed = True
        await self._after_finalizing()
        duration = max(0, user.last_voiced_ms - user.start_ms)
        if not text:
            await self.emit(ev.TurnEnd("user", None, duration, discarded=True))
            return None
        turn = await self._store_turn(
            role="user", text=text, timestamp=user.started_at, duration_ms=duration
        )
        if turn is None:
            return None
        await self.emit(ev.TranscriptEvent("user", text, True, turn.turn_id))
        await self.emit(ev.TurnEnd("user", turn.turn_id, duration))
        return turn

    async def _reply_to_speech(self, user: UserTurn) -> None:
        """Answer a spoken turn. The reply is prepared at once, but the user turn is
        stored and announced only as the first sentence is about to be spoken (or the
        LLM fails): until then, the user may still go on (`_continue_user_turn`)."""
        text = await self._user_text(user)
        if not text:
            await self._commit_spoken_turn(user, "")
            self.answerer.finish("no words in the user turn")
            return

        async def before_speaking() -> None:
            ready = self._clock.now()
            await self._hold_for_the_gap(user)
            await self._hold_while_voiced()
            user.hold_ms = (self._clock.now() - ready) * 1000
            await self._commit_spoken_turn(user, text)

        await self.answerer.answer(pending_user_text=text, before_speaking=before_speaking)

    async def _hold_for_the_gap(self, user: UserTurn) -> None:
        """A fast decision starts the reply early, but its first audio waits until the
        user has been quiet `speak_after_ms`: until then the decision can still be taken
        back at no cost (`_continue_user_turn`). Without this, "What is the best way to
        get from the hotel ‖ to the old town?" was cut at 500-600 ms pauses whenever the
        reply was ready sooner (bench/README.md)."""
        ready_at = user.speech_end_clock + self._rt.policy.speak_after_ms / 1000
        if (wait := ready_at - self._clock.now()) > 0:
            await self._clock.sleep(wait)

    async def _hold_while_voiced(self, quiet_ms: float = 100.0, limit_s: float = 0.6) -> None:
        """Speech that has just begun, not yet confirmed, holds back the reply's first
        audio (at most `limit_s`): confirmed, it continues the same turn and this reply is
        dropped (`_continue_user_turn`); a breath or a click lets the reply go."""
        deadline = self._clock.now() + limit_s
        while (
            self.listener.silence_ms(self._clock.now()) < quiet_ms and self._clock.now() < deadline
        ):
            await self._clock.sleep(0.032)

    # --- typed input ----------------------------------------------------------------

    async def inject_user_message(self, text: str) -> None:
        """A typed user turn: same path as speech from the LLM on."""
        if self.sm.state in (State.USER_SPEAKING, State.ENDPOINTING):
            await self.emit(
                ev.ErrorEvent("injection_refused", "The user is speaking; try again after.")
            )
            return
        if self.sm.state in REPLYING:
            self._barge_in(State.THINKING, "user message injected over the reply")
        origin = self._clock.now()
        self.sm.turn = make_turn_id(len(self.turns) + 1)
        self.sm.go(State.THINKING, "user message injected")
        await self.emit(ev.TurnStart(role="user"))
        commit = self._spawn_commit(self._commit_text_turn(text), "commit_text")
        self.answerer.start(self.answerer.answer_after(commit), origin=origin, user=None)

    async def _commit_text_turn(self, text: str) -> TurnRecord | None:
        await self._after_finalizing()
        turn = await self._store_turn(role="user", text=text, timestamp=utcnow(), duration_ms=0)
        if turn is not None:
            await self.emit(ev.TranscriptEvent("user", text, True, turn.turn_id))
            await self.emit(ev.TurnEnd("user", turn.turn_id, 0))
        return turn

    # --- live control ---------------------------------------------------------------

    async def update_prompt(self, prompt: str) -> None:
        """Replace the system prompt from the next reply on (stored)."""
        self.system_prompt = prompt
        await self._store.update_settings(self.id, system_prompt=prompt)
        await self.emit(ev.Ack("prompt_updated", {"prompt": prompt}))

    async def update_voice(self, voice_id: str) -> None:
        """Switch the voice from the next sentence on (stored). The caller checked it."""
        self.voice_id = voice_id
        await self._store.update_settings(self.id, voice_id=voice_id)
        await self.emit(ev.Ack("voice_updated", {"voice_id": voice_id}))

    async def inject_agent_message(self, text: str) -> None:
        """The assistant says `text` now, as its own turn; refused over the user or a reply."""
        if self.sm.state is not State.LISTENING or self.busy:
            await self.emit(
                ev.ErrorEvent(
                    "injection_refused",
                    "The user is speaking or a reply is in progress; try again after.",
                )
            )
            return
        await self.emit(ev.Ack("agent_message_injected", {"text": text}))
        await self.speak(text, "agent message injected")

    async def speak(self, text: str, why: str) -> None:
        """Speak a fixed text as an assistant turn (greeting, injected agent message)."""
        await self.answerer.speak(text, why)

    # --- barge-in -------------------------------------------------------------------

    def _barge_in(self, next_state: State, why: str) -> None:
        """The user takes the floor over a reply: stop it now, keep what was heard."""
        if (cut := self.answerer.cut()) is None:
            return
        self.sm.go(next_state, why)
        self._finalizing = self._spawn_commit(self.answerer.store_interrupted(*cut), "barge_in")

    # --- storage and limits ---------------------------------------------------------

    async def _store_turn(self, **fields: Any) -> TurnRecord | None:
        async with self._commit_lock:
            try:
                turn = await self._store.append_turn(self.id, **fields)
            except Exception:
                log.exception("session=%s failed to store a turn", self.id)
                await self.emit(ev.ErrorEvent("storage_error", "The turn could not be stored."))
                return None
            self.turns.append(turn)
            return turn

    def _limit_reached(self) -> bool:
        limit = self.record.max_turns
        return limit is not None and len(self.turns) >= limit

    async def _check_limit(self) -> None:
        if self._limit_reached() and self.sm.state is not State.ENDED:
            await self.end("max_turns")

    async def end(self, reason: str) -> None:
        """End the conversation: stop any reply, store what was heard, tell the client."""
        if self.sm.state is State.ENDED:
            return
        pending = self.answerer.pending
        await self.answerer.stop()
        if pending is not None and pending.user is not None and not pending.user.committed:
            # the reply was still being prepared: the user's turn was heard, keep it
            await self._commit_spoken_turn(pending.user, await self._user_text(pending.user))
        if self._commits:  # a cut reply or a typed turn still being stored
            await asyncio.wait(set(self._commits))
        if self._endpoint is not None:
            self._endpoint.cancel()
        self.sm.go(State.ENDED, reason)
        await self._store.end(self.id, reason=reason)
        await self.emit(ev.SessionEnded(reason))
        await self.close()

    async def close(self) -> None:
        """Release per-conversation resources (the STT stream, background tasks)."""
        if self.closed.is_set():
            return
        self.closed.set()
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current and not task.done():
                task.cancel()
        with contextlib.suppress(Exception):
            await self.listener.stt.close()
