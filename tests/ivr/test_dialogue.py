"""The hotline's counts: what a log interval reports is what came after its start."""

from __future__ import annotations

from collections import Counter

from ivr.dialogue import EngineStats


def test_counts_since_a_snapshot_are_only_what_came_after_it() -> None:
    stats = EngineStats(calls=3, timeouts=2, errors=Counter({"report": 1}))
    before = stats.snapshot()
    stats.calls += 2
    stats.missed_calls += 1
    stats.errors["report"] += 1
    stats.errors["call-end"] += 1
    counted = stats.since(before)
    assert (counted.calls, counted.timeouts, counted.missed_calls) == (2, 0, 1)
    assert counted.errors == Counter({"report": 1, "call-end": 1})
    assert before.errors == Counter({"report": 1}), "a snapshot does not follow the counts"
    line = counted.describe()
    assert line.startswith("2 calls, 0 reports (0 incomplete, 0 spooled), 1 missed calls")
    assert line.endswith("errors: call-end 1, report 1")
    assert EngineStats().describe().endswith("errors: none")


def test_an_interval_is_quiet_only_when_nothing_was_counted() -> None:
    assert stats_after().quiet
    assert not stats_after(calls=1).quiet
    assert not stats_after(missed_calls=1).quiet
    # Bad input from a call that began in an earlier interval.
    assert not stats_after(invalid_keys=1).quiet
    errors = EngineStats()
    before = errors.snapshot()
    errors.errors["call-start"] += 1
    assert not errors.since(before).quiet


def stats_after(**counts: int) -> EngineStats:
    before = EngineStats()
    return EngineStats(**counts).since(before)
