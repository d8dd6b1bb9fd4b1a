"""FrameBuffer and split_frames: fixed frames out of chunks of any size."""

from __future__ import annotations

import numpy as np
import pytest

from parley.audio.frames import FrameBuffer, Tail, split_frames
from tests.speech import speak

SPEECH = "Please read me the last message again."


def test_frames_come_out_in_order_whatever_the_chunking() -> None:
    speech = speak(SPEECH)  # 16 kHz; Silero VAD wants 512-sample frames
    buf = FrameBuffer(512)
    frames: list[np.ndarray] = []
    for i in range(0, len(speech), 320):  # 20 ms messages
        buf.push(speech[i : i + 320])
        frames += buf.pop_all()
    assert all(len(f) == 512 and f.dtype == np.int16 for f in frames)
    assert len(frames) == len(speech) // 512
    np.testing.assert_array_equal(np.concatenate(frames), speech[: len(frames) * 512])
    assert len(buf) == len(speech) % 512
    np.testing.assert_array_equal(buf.flush(pad=False), speech[len(frames) * 512 :])
    assert len(buf) == 0


def test_pop_waits_for_a_full_frame() -> None:
    buf = FrameBuffer(4)
    buf.push(np.array([1, 2, 3], dtype=np.int16))
    assert buf.pop() is None
    buf.push(np.array([4, 5], dtype=np.int16))
    np.testing.assert_array_equal(buf.pop(), [1, 2, 3, 4])
    assert buf.pop() is None
    assert len(buf) == 1


def test_one_push_can_hold_many_frames() -> None:
    buf = FrameBuffer(3)
    buf.push(np.arange(10, dtype=np.int16))
    assert [f.tolist() for f in buf.pop_all()] == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert buf.pop_all() == []


def test_popped_frames_survive_later_pushes() -> None:
    buf = FrameBuffer(2)
    buf.push(np.array([1, 2, 3], dtype=np.int16))
    frame = buf.pop()
    buf.push(np.array([4, 5, 6], dtype=np.int16))
    buf.pop_all()
    buf.clear()
    assert frame is not None and frame.tolist() == [1, 2]
    with pytest.raises(ValueError):
        frame[0] = 0  # read-only: the buffer's data cannot be changed through a frame


def test_flush_pads_with_silence_and_empties() -> None:
    buf = FrameBuffer(4)
    assert buf.flush() is None
    buf.push(np.array([7, 8], dtype=np.int16))
    np.testing.assert_array_equal(buf.flush(), [7, 8, 0, 0])
    assert buf.flush() is None


def test_clear_drops_everything() -> None:
    buf = FrameBuffer(4)
    buf.push(np.arange(6, dtype=np.int16))
    buf.clear()
    assert len(buf) == 0 and buf.pop() is None


def test_other_dtypes_by_request() -> None:
    buf = FrameBuffer(2, dtype=np.float32)
    buf.push(np.array([0.5, -0.5, 0.25], dtype=np.float32))
    frame = buf.pop()
    assert frame is not None and frame.dtype == np.float32
    with pytest.raises(TypeError, match="float32"):
        buf.push(np.zeros(2, dtype=np.int16))


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError):
        FrameBuffer(0)
    buf = FrameBuffer(4)
    with pytest.raises(TypeError):
        buf.push(np.zeros(4, dtype=np.float64))
    with pytest.raises(ValueError):
        buf.push(np.zeros((2, 4), dtype=np.int16))


@pytest.mark.parametrize(
    ("tail", "expected"),
    [
        ("keep", [[0, 1, 2], [3, 4, 5], [6]]),
        ("pad", [[0, 1, 2], [3, 4, 5], [6, 0, 0]]),
        ("drop", [[0, 1, 2], [3, 4, 5]]),
    ],
)
def test_split_frames_tail(tail: Tail, expected: list[list[int]]) -> None:
    frames = split_frames(np.arange(7, dtype=np.int16), 3, tail=tail)
    assert [f.tolist() for f in frames] == expected


def test_split_frames_exact_multiple_and_empty() -> None:
    assert [f.tolist() for f in split_frames(np.arange(4), 2, tail="pad")] == [[0, 1], [2, 3]]
    assert split_frames(np.zeros(0, dtype=np.int16), 2) == []
    with pytest.raises(ValueError):
        split_frames(np.zeros(4, dtype=np.int16), 0)
