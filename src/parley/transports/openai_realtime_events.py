"""Engine events → OpenAI Realtime (GA) server events, in the shapes of the `openai`
package's `openai.types.realtime` models.

A response is opened when the engine starts answering (the first audio, transcript or
tool call of a reply) and closed with exactly one `response.done`: `completed` when the
reply played out or asked for tools, `cancelled` (`turn_detected`) when the user cut in.
A reply that calls tools and then goes on is two responses, as on OpenAI: the second
opens when the engine speaks again after the results.

A paused reply (a voice over it) sends `input_audio_buffer.speech_started` at once, as
OpenAI's server VAD does: clients flush playback (and may truncate). If the engine then
cuts the reply, that was the user's turn starting (no second `speech_started`); if it
resumes, `speech_stopped` closes the speech without a committed item, and the audio from
the paused position is sent again in the same response (`held_audio.py`).
"""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from parley import ids
from parley.engine import events as ev

Send = Callable[[dict[str, Any]], None]


def error_event(
    event_id: str, code: str, message: str, param: str | None = None, client_event: Any = None
) -> dict[str, Any]:
    error = {"type": "invalid_request_error", "code": code, "message": message, "param": param}
    if isinstance(client_event, str):
        error["event_id"] = client_event
    return {"type": "error", "event_id": event_id, "error": error}


@dataclass
class Response:
    id: str
    output: list[dict[str, Any]] = field(default_factory=list)
    message: dict[str, Any] | None = None  # the assistant message item, once opened
    transcript: str = ""
    audio_done: bool = False


class RealtimeEvents:
    def __init__(self, send: Send) -> None:
        self._send = send
        self._ids = itertools.count(1)
        self.response: Response | None = None
        self.typed_turns = 0  # injected user text: no speech events for it
        self.user_item: str | None = None
        self._said = ""
        self.heard_ms = 0  # user audio received (audio_start_ms / audio_end_ms)
        self.cancel_reason = "turn_detected"  # why the next cut reply was cut
        self._told_speaking = False  # a pause sent speech_started already

    def event_id(self) -> str:
        return f"event_{next(self._ids):06d}"

    def emit(self, kind: str, **fields: Any) -> None:
        self._send({"type": kind, "event_id": self.event_id(), **fields})

    # --- responses -------------------------------------------------------------------

    def open(self) -> Response:
        if self.response is None:
            self.response = Response(ids.new_id("resp"))
            self._said = ""
            self.emit("response.created", response=self._shape(self.response, "in_progress"))
        return self.response

    def _shape(self, resp: Response, status: str, reason: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": resp.id,
            "object": "realtime.response",
            "status": status,
            "output": resp.output,
            "output_modalities": ["audio"],
        }
        if reason is not None:
            out["status_details"] = {"type": status, "reason": reason}
        return out

    def _message(self) -> tuple[Response, dict[str, Any]]:
        resp = self.open()
        if resp.message is None:
            item = {
                "id": ids.new_id("item"),
                "object": "realtime.item",
                "type": "message",
                "role": "assistant",
                "status": "in_progress",
                "content": [],
            }
            resp.message = item
            resp.output.append(item)
            where = {"response_id": resp.id, "output_index": len(resp.output) - 1}
            self.emit("response.output_item.added", item=item, **where)
            part = {"type": "audio", "transcript": ""}
            self.emit(
                "response.content_part.added",
                item_id=item["id"],
                content_index=0,
                part=part,
                **where,
            )
        return resp, resp.message

    def _where(self, resp: Response, item: dict[str, Any]) -> dict[str, Any]:
        return {
            "response_id": resp.id,
            "item_id": item["id"],
            "output_index": resp.output.index(item),
            "content_index": 0,
        }

    def audio(self, chunks: list[bytes]) -> None:
        if not chunks:
            return
        resp, item = self._message()
        for chunk in chunks:
            delta = base64.b64encode(chunk).decode()
            self.emit("response.output_audio.delta", delta=delta, **self._where(resp, item))

    def audio_end(self, chunks: list[bytes], cut: bool) -> None:
        self.audio(chunks)
        if self.response is not None and self.response.message is not None and not cut:
            self.response.audio_done = True
            self.emit(
                "response.output_audio.done", **self._where(self.response, self.response.message)
            )

    def close(self, status: str = "completed", reason: str | None = None) -> None:
        resp, self.response = self.response, None
        if resp is None:
            return
        if (item := resp.message) is not None:
            where = self._where(resp, item)
            self.emit("response.output_audio_transcript.done", transcript=resp.transcript, **where)
            part = {"type": "audio", "transcript": resp.transcript}
            self.emit("response.content_part.done", part=part, **where)
            item["status"] = "completed" if status == "completed" else "incomplete"
            item["content"] = [{"type": "output_audio", "transcript": resp.transcript}]
            where.pop("item_id"), where.pop("content_index")
            self.emit("response.output_item.done", item=item, **where)
        self.emit("response.done", response=self._shape(resp, status, reason))

    # --- engine events ---------------------------------------------------------------

    def map(self, event: ev.Event) -> None:
        match event:
            case ev.TurnStart(role="user"):
                if self.typed_turns:
                    self.typed_turns -= 1
                    return
                if self._told_speaking:  # the paused reply was cut: said at the pause
                    self._told_speaking = False
                    return
                self._speech_started()
            case ev.ReplyPaused():
                self._told_speaking = True
                self._speech_started()
            case ev.ReplyResumed():
                self._told_speaking = False
                item_id, self.user_item = self.user_item, None
                if item_id is not None:  # a backchannel: no item is committed
                    self.emit(
                        "input_audio_buffer.speech_stopped",
                        audio_end_ms=self.heard_ms,
                        item_id=item_id,
                    )
            case ev.TranscriptEvent(role="user", text=text, is_final=True):
                self._user_heard(text)
            case ev.TurnStart(role="assistant"):
                self._told_speaking = False
                self._message()
            case ev.TranscriptEvent(role="assistant", text=text, is_final=False):
                resp, item = self._message()
                new = text[len(self._said) :] if text.startswith(self._said) else " " + text
                self._said = text
                if new.strip():
                    delta = new if resp.transcript else new.lstrip()
                    resp.transcript += delta
                    self.emit(
                        "response.output_audio_transcript.delta",
                        delta=delta,
                        **self._where(resp, item),
                    )
            case ev.TranscriptEvent(role="assistant", text=text, is_final=True):
                if self.response is not None and self.response.message is not None:
                    self.response.transcript = text  # what was heard
            case ev.TurnEnd(role="assistant", interrupted=cut):
                reason, self.cancel_reason = self.cancel_reason, "turn_detected"
                self.close("cancelled" if cut else "completed", reason if cut else None)
            case ev.ToolCallEvent(call_id=cid, name=name, arguments=args):
                self._tool_call(cid, name, args)
            case ev.ErrorEvent(code=code, message=message):
                self._send(error_event(self.event_id(), code, message))

    def _speech_started(self) -> None:
        self.user_item = ids.new_id("item")
        start = self.heard_ms
        self.emit("input_audio_buffer.speech_started", audio_start_ms=start, item_id=self.user_item)

    def _user_heard(self, text: str) -> None:
        item_id, self.user_item = self.user_item, None
        if item_id is None:  # a typed message: its item was announced when created
            return
        self.emit("input_audio_buffer.speech_stopped", audio_end_ms=self.heard_ms, item_id=item_id)
        self.emit("input_audio_buffer.committed", item_id=item_id, previous_item_id=None)
        item = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "role": "user",
            "status": "completed",
            "content": [{"type": "input_audio", "transcript": text}],
        }
        self.emit("conversation.item.added", item=item, previous_item_id=None)
        self.emit("conversation.item.done", item=item, previous_item_id=None)
        self.emit(
            "conversation.item.input_audio_transcription.completed",
            item_id=item_id,
            content_index=0,
            transcript=text,
            usage={"type": "duration", "seconds": 0.0},
        )

    def _tool_call(self, call_id: str, name: str, args: Any) -> None:
        resp = self.open()
        arguments = args if isinstance(args, str) else json.dumps(args)
        item = {
            "id": ids.new_id("item"),
            "object": "realtime.item",
            "type": "function_call",
            "status": "completed",
            "call_id": call_id,
            "name": name,
            "arguments": arguments,
        }
        resp.output.append(item)
        where = {"response_id": resp.id, "output_index": len(resp.output) - 1}
        self.emit(
            "response.output_item.added",
            item={**item, "arguments": "", "status": "in_progress"},
            **where,
        )
        self.emit(
            "response.function_call_arguments.done",
            item_id=item["id"],
            call_id=call_id,
            name=name,
            arguments=arguments,
            **where,
        )
        self.emit("response.output_item.done", item=item, **where)


def pcm_seconds(samples: np.ndarray, rate: int) -> int:
    return int(len(samples) * 1000 / rate)
