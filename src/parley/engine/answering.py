"""What the assistant says, as one visible sequence per reply (each runs as the reply's
one cancellable task, DESIGN principle 2). A spoken turn is answered so:

    prepare ─▶ gate ─────────────────────────▶ speak ─────────────────────▶ commit
    LLM round 0 wait out the speaking gap      sentences as they come,      the assistant
    streams     (floor.py), then store the     tool calls between rounds    turn, what was
    into a      user turn: UserTurnCommitted   (tools.py): ToolsCalled,     heard: ReplyOver
    queue                                      ToolResultsIn

A typed turn skips the gate (it is stored before its reply starts), a fixed text
(greeting, injected agent message) the LLM. An LLM that reports the reply queued
(`Delayed`, the embedded model behind other sessions) makes the round ready: the reply
takes the floor and says a filler ("One moment.", not stored) while it waits. The
answerer moves no state: it reports each fact through one narrow door,
`ReplyHost.reply_fact`, and the conversation decides.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol

from parley.engine import events as ev
from parley.engine import floor
from parley.engine.ledger import NewTurn, TurnLedger
from parley.engine.listener import Listener
from parley.engine.memory import build_messages
from parley.engine.reply import Reply, ReplyTimings
from parley.engine.runtime import Runtime
from parley.engine.sentences import SentenceSplitter
from parley.engine.sink import Outlet
from parley.engine.tools import ToolCalls, ToolRunner, ToolSettings, hold_line
from parley.engine.turns import ReplyJob, UserTurn, latency_breakdown
from parley.providers.llm.base import (
    ChatMessage,
    Delayed,
    LLMError,
    LLMProvider,
    TextDelta,
    ToolCall,
    ToolCallsReady,
    ToolSpec,
)
from parley.store.records import ConversationRecord, TurnRecord
from parley.timeutil import utcnow

log = logging.getLogger("parley.engine")

# Said once, as the reply's first audio, when the LLM reports the reply queued.
FILLER_LINES = {
    "en": "One moment.",
    "es": "Un momento.",
    "fr": "Un instant.",
    "de": "Einen Moment.",
    "it": "Un momento.",
    "pt": "Um momento.",
    "nl": "Een ogenblik.",
}


@dataclass(frozen=True)
class UserTurnCommitted:
    """The spoken turn is being stored: the reply has the floor."""


@dataclass(frozen=True)
class ToolsCalled:
    count: int


@dataclass(frozen=True)
class ToolResultsIn:
    pass


@dataclass(frozen=True)
class ReplyOver:
    why: str


ReplyFact = UserTurnCommitted | ToolsCalled | ToolResultsIn | ReplyOver


class ReplyHost(Protocol):
    """What a reply needs from its conversation."""

    record: ConversationRecord

    @property
    def system_prompt(self) -> str: ...

    ledger: TurnLedger
    listener: Listener
    out: Outlet

    async def emit(self, event: ev.Event) -> None: ...

    async def reply_fact(self, job: ReplyJob, fact: ReplyFact) -> None: ...


@dataclass
class RoundResult:
    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)


class LLMRound:
    """One streamed LLM call split into sentences, started before it may be spoken.
    Use as `async with`: leaving it stops the call if it is still streaming."""

    def __init__(
        self,
        llm: LLMProvider,
        messages: list[ChatMessage],
        tools: list[ToolSpec] | None,
        timings: ReplyTimings,
        now: Any,
        filler: str = FILLER_LINES["en"],
    ) -> None:
        self.messages = messages
        self.result = RoundResult()
        self._filler = filler
        self._queue: asyncio.Queue[str | Delayed | None] = asyncio.Queue()
        self._ready = asyncio.Event()  # a sentence, tool calls or the end is in
        self._timings = timings
        self._now = now
        self._task = asyncio.ensure_future(self._produce(llm, tools))

    async def __aenter__(self) -> LLMRound:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self._task.done():
            self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task

    def _first_output(self) -> None:
        if self._timings.llm_first_token is None:
            self._timings.llm_first_token = self._now()

    async def _produce(self, llm: LLMProvider, tools: list[ToolSpec] | None) -> None:
        splitter = SentenceSplitter()
        try:
            async with contextlib.aclosing(llm.stream(self.messages, tools)) as events:
                async for event in events:
                    if isinstance(event, TextDelta):
                        self._first_output()
                        self.result.text += event.text
                        for sentence in splitter.push(event.text):
                            self._queue.put_nowait(sentence)
                            self._ready.set()
                    elif isinstance(event, Delayed):
                        self._queue.put_nowait(event)  # the reply may say its filler
                        self._ready.set()
                    elif isinstance(event, ToolCallsReady):
                        self._first_output()
                        self.result.tool_calls.extend(event.calls)
                        self._ready.set()
            if rest := splitter.flush():
                self._queue.put_nowait(rest)
        finally:
            self._queue.put_nowait(None)
            self._ready.set()

    async def ready(self) -> None:
        """Wait for the round's first output: a sentence, tool calls, its end, or the
        LLM's report that the reply is queued (`Delayed`)."""
        await self._ready.wait()

    async def speak(self, reply: Reply) -> RoundResult:
        """Say the round's sentences as they come; raises the LLM's error, if any."""
        while (sentence := await self._queue.get()) is not None:
            if isinstance(sentence, Delayed):
                if not reply.spoken:  # once per reply, and only before its answer
                    await reply.say(self._filler, filler=True)
                continue
            await reply.say(sentence)
        await self._task  # re-raises an LLM error
        return self.result


class Answerer:
    """Makes one conversation's replies (`host` is the conversation)."""

    def __init__(self, host: ReplyHost, runtime: Runtime) -> None:
        self._host = host
        self._rt = runtime
        self.tool_calls = ToolCalls()  # client tool calls waiting for a `tool_result`

    # --- the sequences ----------------------------------------------------------------

    async def answer_speech(self, job: ReplyJob, user: UserTurn) -> None:
        """Answer a spoken turn: the reply is prepared at once, but the user turn is
        stored and announced only once the reply may speak: until then the user may
        still go on with it (the conversation drops this reply)."""
        text = await user.transcript(self._rt.clock)
        if not text:
            await self._host.emit(ev.TurnEnd("user", None, user.duration_ms, discarded=True))
            await self._host.reply_fact(job, ReplyOver("no words in the user turn"))
            return
        async with self.prepare(job, unstored_user_text=text) as first:
            await first.ready()
            # the gate: wait out the speaking gap, then the floor is the reply's
            await floor.speaking_gap(self._rt, self._host.listener, user)
            _, write = self._host.ledger.append(
                NewTurn("user", text, user.started_at, user.duration_ms)
            )
            await self._host.reply_fact(job, UserTurnCommitted())
            await asyncio.shield(write)
            error = await self.speak(job, first)
        await self._commit(job, error)

    async def answer_typed(
        self, job: ReplyJob, text: str, write: asyncio.Task[TurnRecord | None]
    ) -> None:
        """Answer a typed turn once its write is over (`write`). A turn that could not be
        stored (`storage_error` said so) is answered all the same, as a spoken one is."""
        unstored = text if await asyncio.shield(write) is None else None
        # If the limit falls on this user turn, the assistant still answers; then the end.
        async with self.prepare(job, unstored_user_text=unstored) as first:
            error = await self.speak(job, first)
        await self._commit(job, error)

    async def say(self, job: ReplyJob, text: str, why: str) -> None:
        """Speak a fixed text as an assistant turn (greeting, injected agent message)."""
        await job.reply.speak_text(text)
        await self._commit(job, None, done=f"{why} spoken")

    async def _commit(self, job: ReplyJob, error: LLMError | None, done: str = "") -> None:
        """The reply has said all it will: let it play out, store it, give the floor back."""
        await self._host.out.audio_end(cut=False)
        await job.reply.finish_playback()
        if error is not None:
            log.warning("session=%s LLM failed: %s", self._host.record.id, error)
            await self._host.emit(ev.ErrorEvent(error.code, error.message))
        if job.reply.spoken or job.tool_log:
            _, write = self._host.ledger.append(self.turn(job, interrupted=False))
            await asyncio.shield(write)
        why = done or ("reply done" if error is None else "reply failed")
        await self._host.reply_fact(job, ReplyOver(why))

    # --- LLM and tool rounds ----------------------------------------------------------

    def _specs(self, round_no: int, settings: ToolSettings) -> list[ToolSpec] | None:
        tools = self._host.record.tools
        if not tools or round_no >= settings.max_rounds:
            return None
        return [ToolSpec(t.name, t.description, t.parameters) for t in tools]

    def prepare(self, job: ReplyJob, unstored_user_text: str | None = None) -> LLMRound:
        """Start the reply's first LLM round on the stored turns (plus the spoken turn
        being answered, stored only once the reply may speak)."""
        record = self._host.record
        turns = list(self._host.ledger.turns)
        if unstored_user_text is not None:
            turns.append(TurnRecord(0, "", "user", unstored_user_text, utcnow(), 0))
        messages = build_messages(
            self._host.system_prompt, record.language, turns, record.context_window
        )
        settings = ToolSettings.from_settings(record.settings)
        job.reply.timings.started = self._rt.clock.now()  # the LLM's own time counts from here
        return self._round(job, messages, self._specs(0, settings))

    def _round(
        self, job: ReplyJob, messages: list[ChatMessage], tools: list[ToolSpec] | None
    ) -> LLMRound:
        filler = FILLER_LINES.get(self._host.record.language, FILLER_LINES["en"])
        return LLMRound(
            self._rt.llm, messages, tools, job.reply.timings, self._rt.clock.now, filler
        )

    async def speak(self, job: ReplyJob, first: LLMRound) -> LLMError | None:
        """Speak the prepared round, then tool rounds until the model answers without
        tools (or the round limit makes it); the LLM's error, if one ended the reply."""
        settings = ToolSettings.from_settings(self._host.record.settings)
        messages = first.messages
        try:
            result = await first.speak(job.reply)
            round_no = 1
            while result.tool_calls and round_no <= settings.max_rounds:
                await self._run_tools(job, messages, result, settings)
                async with self._round(job, messages, self._specs(round_no, settings)) as rnd:
                    result = await rnd.speak(job.reply)
                round_no += 1
        except LLMError as exc:
            return exc
        except Exception:  # a bug, or a provider failing oddly: said, and what was said kept
            log.exception("session=%s reply failed", self._host.record.id)
            return LLMError(
                "internal_error", "The reply failed on the server; the conversation goes on."
            )
        return None

    async def _run_tools(
        self,
        job: ReplyJob,
        messages: list[ChatMessage],
        result: RoundResult,
        settings: ToolSettings,
    ) -> None:
        record = self._host.record
        await self._host.reply_fact(job, ToolsCalled(len(result.tool_calls)))
        messages.append(
            ChatMessage(role="assistant", content=result.text or None, tool_calls=result.tool_calls)
        )
        runner = ToolRunner(
            {t.name: t for t in record.tools},
            self.tool_calls,
            self._rt.http(),
            self._announce_tool_call,
            settings,
        )
        say_hold = functools.partial(job.reply.say, hold_line(record.language))
        for outcome in await runner.run(result.tool_calls, say_hold):
            messages.append(
                ChatMessage(role="tool", content=outcome.for_llm(), tool_call_id=outcome.call.id)
            )
            job.tool_log.append(outcome.to_json())
        await self._host.reply_fact(job, ToolResultsIn())

    async def _announce_tool_call(self, call: ToolCall, arguments: Any) -> None:
        await self._host.emit(ev.ToolCallEvent(call.id, call.name, arguments))

    # --- stopping a reply ------------------------------------------------------------

    @staticmethod
    def drop(job: ReplyJob) -> None:
        """Stop a reply that has said nothing yet."""
        if job.task is not None:
            job.task.cancel()

    def cut(self, job: ReplyJob, tell: bool = True) -> None:
        """Stop a reply now and keep what was heard: the user took the floor (`tell`:
        the client is sent `interrupted`, to drop the audio it still holds) or the
        conversation is ending."""
        played = job.reply.played_ms
        self.drop(job)
        if not job.reply.heard_anything:
            return

        async def heard(turn_id: str) -> NewTurn:
            if job.task is not None:
                await asyncio.wait({job.task})  # no audio after the `interrupted` event
            await self._host.out.audio_end(cut=True)
            if tell:
                await self._host.emit(ev.Interrupted(turn_id, int(played)))
            return self.turn(job, interrupted=True, played_ms=played)

        self._host.ledger.append(heard)

    # --- the assistant turn ---------------------------------------------------------

    @staticmethod
    def turn(job: ReplyJob, interrupted: bool, played_ms: float | None = None) -> NewTurn:
        """The assistant turn to store: all of a finished reply, what was heard of a cut one."""
        reply = job.reply
        played = reply.sent_ms if played_ms is None else played_ms
        meta = latency_breakdown(job)
        if job.tool_log:
            meta["tool_calls"] = job.tool_log
        return NewTurn(
            role="assistant",
            text=reply.heard_text(played) if interrupted else reply.full_text,
            timestamp=utcnow(),
            duration_ms=int(played),
            latency_ms=meta.get("latency", {}).get("first_audio_sent_ms"),
            interrupted=interrupted,
            meta=meta,
        )
