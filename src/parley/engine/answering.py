"""The assistant's side of a conversation: each reply, from the LLM to the stored turn.

A reply runs as one task (`start`, task name "reply"), so that cancelling it stops it as
a unit. It goes in LLM rounds, spoken as they stream; tool calls run between rounds
(see `tools.py`) and their results go back to the model, until it answers without tools.
Fixed texts (greeting, injected agent message) take the same path without the LLM. The
assistant turn is stored before its `turn_end` is announced (principle 9), and its text
is what the listener heard (principle 3): all of a finished reply, up to the cut of an
interrupted one.

Coupling with `Conversation`, on purpose: the conversation decides when a reply starts and
when it is cut short. It reads `pending` for that, and when it cancels the reply's task
itself (barge-in, the user going on with their turn) it clears `pending` too. Everything
else is handed in explicitly: the state machine, the list of stored turns (the
conversation's own list, which `store_turn` appends to), events and audio out, the task
spawner, the limit check, and getters for what changes live (prompt, voice, output rate).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from parley.engine import events as ev
from parley.engine.memory import build_messages
from parley.engine.reply import AudioSink, Reply
from parley.engine.runtime import Runtime
from parley.engine.state import REPLYING, State, StateMachine
from parley.engine.tools import ToolCalls, ToolRunner, ToolSettings, hold_line
from parley.engine.turns import Pending, UserTurn, latency_breakdown
from parley.ids import turn_id as make_turn_id
from parley.providers.llm.base import ChatMessage, LLMError, ToolCall, ToolSpec
from parley.store.records import ConversationRecord, TurnRecord
from parley.timeutil import utcnow

log = logging.getLogger("parley.engine")


class Answerer:
    """Runs one conversation's replies; `pending` is the reply in progress, if any."""

    def __init__(
        self,
        record: ConversationRecord,
        runtime: Runtime,
        sm: StateMachine,
        turns: list[TurnRecord],
        *,
        system_prompt: Callable[[], str],
        voice: Callable[[], str],
        out_rate: Callable[[], int],
        emit: Callable[[ev.Event], Awaitable[None]],
        audio_out: AudioSink,
        spawn: Callable[[Awaitable[Any], str], asyncio.Task[Any]],
        store_turn: Callable[..., Awaitable[TurnRecord | None]],
        check_limit: Callable[[], Awaitable[None]],
    ) -> None:
        self.record = record
        self.id = record.id
        self._rt = runtime
        self._clock = runtime.clock
        self._sm = sm
        self._turns = turns
        self._system_prompt = system_prompt
        self._voice = voice
        self._out_rate = out_rate
        self._emit = emit
        self._audio_out = audio_out
        self._spawn = spawn
        self._store_turn = store_turn
        self._check_limit = check_limit
        self.pending: Pending | None = None
        self.tool_calls = ToolCalls()  # client tool calls waiting for a `tool_result`

    @property
    def busy(self) -> bool:
        """A reply is in progress."""
        return self.pending is not None and not self.pending.task.done()

    async def idle(self) -> None:
        """Return once no reply is in progress."""
        while (pending := self.pending) is not None and not pending.task.done():
            # `wait`, not a suppressed `await`: the reply's own failure or cancellation
            # is not ours, but the caller being cancelled must still cancel the caller
            await asyncio.wait({pending.task})

    # --- starting and finishing a reply ---------------------------------------------

    def start(self, flow: Awaitable[None], origin: float, user: UserTurn | None) -> None:
        """Run `flow` as the reply in progress; latencies count from `origin`."""
        task = self._spawn(flow, "reply")
        self.pending = Pending(task=task, origin_clock=origin, user=user)

    def finish(self, why: str) -> None:
        """The reply is over: back to listening (unless something else took over)."""
        if self._sm.state in REPLYING:
            self._sm.go(State.LISTENING, why)
        self.pending = None

    def _new_reply(self, before_speaking: Callable[[], Awaitable[Any]] | None = None) -> Reply:
        out_rate = self._out_rate()
        pending = self.pending
        assert pending is not None

        async def first_audio() -> None:
            self._sm.go(State.SPEAKING, "first reply audio")
            # the same instant as the stored `first_audio_sent_ms` (a second clock read
            # could land a millisecond later)
            sent = reply.timings.first_audio_sent
            assert sent is not None
            latency = int((sent - pending.origin_clock) * 1000)
            await self._emit(ev.TurnStart(role="assistant", latency_ms=latency))

        spoken: list[str] = []

        async def on_sentence(sentence: str) -> None:
            spoken.append(sentence)
            await self._emit(ev.TranscriptEvent("assistant", " ".join(spoken), False))

        reply = Reply(
            llm=self._rt.llm,
            tts_for=self._rt.tts_for,
            voice=self._voice,
            out_rate=out_rate,
            clock=self._clock,
            sink=self._audio_out,
            on_first_audio=first_audio,
            on_sentence=on_sentence,
            lead_ms=self._rt.lead_ms,
            before_speaking=before_speaking,
        )
        pending.reply = reply
        return reply

    # --- answering the user ---------------------------------------------------------

    async def answer_after(self, commit: asyncio.Task[TurnRecord | None]) -> None:
        """Wait for the (typed) user turn to be stored, then answer it."""
        turn = await asyncio.shield(commit)
        if turn is None:
            self.finish("no words in the user turn")
            return
        # If the limit falls on this user turn, the assistant still answers; then the end.
        await self.answer()

    async def answer(
        self,
        pending_user_text: str | None = None,
        before_speaking: Callable[[], Awaitable[Any]] | None = None,
    ) -> None:
        """Answer the stored turns (plus `pending_user_text`, the spoken turn being
        answered, which `before_speaking` stores just before the first audio)."""
        reply = self._new_reply(before_speaking)
        pending = self.pending
        assert pending is not None
        self._sm.turn = make_turn_id(len(self._turns) + 1)
        turns = list(self._turns)
        if pending_user_text is not None:  # the turn being answered, not stored yet
            turns.append(TurnRecord(0, "", "user", pending_user_text, utcnow(), 0))
        messages = build_messages(
            self._system_prompt(), self.record.language, turns, self.record.context_window
        )
        error: LLMError | None = None
        try:
            await self._think(reply, pending, messages)
            await reply.finish_playback()
        except LLMError as exc:
            error = exc
        if before_speaking is not None:
            await reply.ready_to_speak()  # the user turn is stored even if nothing was said
        if error is not None:
            log.warning("session=%s LLM failed: %s", self.id, error)
            await self._emit(ev.ErrorEvent(error.code, error.message))
        if reply.spoken or pending.tool_log:
            await self.commit_assistant(reply, pending, interrupted=False)
        self.finish("reply done" if error is None else "reply failed")
        await self._check_limit()

    async def _think(self, reply: Reply, pending: Pending, messages: list[ChatMessage]) -> None:
        """LLM rounds: speak the text, run the tool calls, feed the results back, until the
        model answers without tools (or the round limit makes it)."""
        settings = ToolSettings.from_settings(self.record.settings)
        specs = [ToolSpec(t.name, t.description, t.parameters) for t in self.record.tools]
        for round_no in range(settings.max_rounds + 1):
            offer = specs if specs and round_no < settings.max_rounds else None
            result = await reply.speak_llm(messages, offer)
            if not result.tool_calls:
                return
            await reply.ready_to_speak()  # the user turn is announced before any tool call
            self._sm.go(State.TOOL_RUNNING, f"{len(result.tool_calls)} tool call(s)")
            messages.append(
                ChatMessage(
                    role="assistant", content=result.text or None, tool_calls=result.tool_calls
                )
            )
            runner = ToolRunner(
                {t.name: t for t in self.record.tools},
                self.tool_calls,
                self._rt.http(),
                self._announce_tool_call,
                settings,
            )
            say_hold = functools.partial(reply.say, hold_line(self.record.language))
            outcomes = await runner.run(result.tool_calls, say_hold)
            for outcome in outcomes:
                messages.append(
                    ChatMessage(
                        role="tool", content=outcome.for_llm(), tool_call_id=outcome.call.id
                    )
                )
                pending.tool_log.append(outcome.to_json())
            self._sm.go(State.THINKING, "tool results in")

    async def _announce_tool_call(self, call: ToolCall, arguments: Any) -> None:
        await self._emit(ev.ToolCallEvent(call.id, call.name, arguments))

    # --- speaking a fixed text ------------------------------------------------------

    async def speak(self, text: str, why: str) -> None:
        """Speak a fixed text as an assistant turn (greeting, injected agent message)."""
        self._sm.turn = make_turn_id(len(self._turns) + 1)
        self._sm.go(State.THINKING, why)

        async def flow() -> None:
            reply = self._new_reply()
            await reply.speak_text(text)
            await reply.finish_playback()
            await self.commit_assistant(reply, self.pending, interrupted=False)
            self.finish(f"{why} spoken")
            await self._check_limit()

        self.start(flow(), origin=self._clock.now(), user=None)

    # --- storing the assistant turn -------------------------------------------------

    async def commit_assistant(
        self,
        reply: Reply,
        pending: Pending | None,
        interrupted: bool,
        played_ms: float | None = None,
    ) -> None:
        """Store the assistant turn and announce it (transcript + turn_end)."""
        played = reply.pacer.sent_ms if played_ms is None else played_ms
        text = reply.heard_text(played) if interrupted else reply.full_text
        meta = latency_breakdown(reply, pending)
        if pending is not None and pending.tool_log:
            meta["tool_calls"] = pending.tool_log
        turn = await self._store_turn(
            role="assistant",
            text=text,
            timestamp=utcnow(),
            duration_ms=int(played),
            latency_ms=meta.get("latency", {}).get("first_audio_sent_ms"),
            interrupted=interrupted,
            meta=meta,
        )
        if turn is None:
            return
        await self._emit(ev.TranscriptEvent("assistant", text, True, turn.turn_id))
        await self._emit(
            ev.TurnEnd("assistant", turn.turn_id, int(played), interrupted=interrupted)
        )

    def cut(self) -> tuple[Pending, float] | None:
        """Stop the reply in progress now: cancel its task and forget it. Returns it with
        how much of its audio was played, or None when no reply is running."""
        pending = self.pending
        if pending is None or pending.task.done():
            return None
        played = pending.reply.pacer.played_ms if pending.reply is not None else 0.0
        pending.task.cancel()
        self.pending = None
        return pending, played

    async def store_interrupted(self, pending: Pending, played: float) -> None:
        """After a barge-in cut the reply: once its task is over, announce the
        interruption and store what was heard (`played` ms of audio), if anything."""
        await asyncio.wait({pending.task})
        reply = pending.reply
        if reply is None or not reply.started_audio:
            return  # nothing was heard: no assistant turn
        turn_id = make_turn_id(len(self._turns) + 1)
        await self._emit(ev.Interrupted(turn_id, int(played)))
        await self.commit_assistant(reply, pending, interrupted=True, played_ms=played)

    async def stop(self) -> None:
        """Cut the reply in progress (unless this is it) and store what was heard."""
        if self.pending is not None and asyncio.current_task() is self.pending.task:
            return
        if (cut := self.cut()) is None:
            return
        pending, played = cut
        await asyncio.wait({pending.task})
        reply = pending.reply
        if reply is not None and reply.started_audio:
            await self.commit_assistant(reply, pending, interrupted=True, played_ms=played)
