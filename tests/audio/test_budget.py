"""The incoming-audio budget (`audio/budget.py`) on a clock the test moves."""

from __future__ import annotations

from parley.audio.budget import AudioBudget


def test_real_time_audio_is_always_heard() -> None:
    budget = AudioBudget(speed=1.5, burst_s=10.0)
    assert all(budget.take(0.02, now=i * 0.02) for i in range(50 * 600))  # 10 minutes
    assert budget.dropped_s == 0


def test_a_backlog_up_to_the_burst_is_heard_then_audio_past_the_rate_is_dropped() -> None:
    budget = AudioBudget(speed=1.5, burst_s=10.0)
    assert all(budget.take(0.5, now=0.0) for _ in range(20))  # 10 s at once: the backlog
    assert not budget.take(0.5, now=0.0)
    assert budget.take(0.3, now=0.2)  # 0.2 s later: 0.3 s more
    assert not budget.take(0.1, now=0.2)
    heard = sum(0.1 for i in range(1000) if budget.take(0.1, now=0.2 + i * 0.01))
    assert abs(heard - 1.5 * 10.0) < 0.2  # flooding for 10 s: 1.5 × real time gets through
    assert budget.dropped_s > 80


def test_drops_are_reported_at_most_every_few_seconds() -> None:
    budget = AudioBudget(speed=1.0, burst_s=1.0, report_every_s=5.0)
    budget.take(1.0, now=0.0)
    due = [t for t in range(20) if not budget.take(5.0, now=float(t)) and budget.report_due(t)]
    assert due == [0, 5, 10, 15]
