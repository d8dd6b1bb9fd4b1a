"""Tool calls written as text by a GGUF model: split from speech as the pieces stream."""

from __future__ import annotations

import json

from parley.providers.llm.tool_text import ToolTextSplitter


def feed_all(pieces: list[str]) -> tuple[str, ToolTextSplitter]:
    s = ToolTextSplitter()
    spoken = "".join(s.feed(p) for p in pieces) + s.finish()
    return spoken, s


def test_plain_text_passes_through_piece_by_piece() -> None:
    s = ToolTextSplitter()
    assert s.feed("Hello ") == "Hello "
    assert s.feed("there.") == "there."
    assert s.finish() == "" and s.calls == []


def test_a_call_split_across_pieces_is_assembled_and_not_spoken() -> None:
    body = '{"name": "lookup_order", "arguments": {"order_id": "A42"}}'
    pieces = ["Let me check. <to", "ol_call>", body[:10], body[10:], "</tool_", "call>"]
    spoken, s = feed_all(pieces)
    assert spoken == "Let me check. "
    assert [(c.name, json.loads(c.arguments)) for c in s.calls] == [
        ("lookup_order", {"order_id": "A42"})
    ]
    assert s.calls[0].id.startswith("call_")


def test_a_held_partial_tag_that_is_not_a_tag_is_spoken() -> None:
    s = ToolTextSplitter()
    assert s.feed("a <") == "a "  # might become <tool_call>
    assert s.feed("b") == "<b"
    assert s.feed(" x <tool") == " x "
    assert s.finish() == "<tool"


def test_two_calls_and_parameters_spelling() -> None:
    text = (
        '<tool_call>{"name": "a", "arguments": {}}</tool_call>'
        '<tool_call>{"name": "b", "parameters": {"q": 1}}</tool_call>'
    )
    spoken, s = feed_all([text])
    assert spoken == ""
    assert [(c.name, json.loads(c.arguments)) for c in s.calls] == [("a", {}), ("b", {"q": 1})]


def test_an_unterminated_or_broken_call_is_never_spoken() -> None:
    spoken, s = feed_all(['Sure. <tool_call>{"name": "a", "arguments": {"x": 1}}'])
    assert spoken == "Sure. " and [c.name for c in s.calls] == ["a"]
    spoken, s = feed_all(["<tool_call>not json</tool_call> done"])
    assert spoken == " done" and s.calls == []
