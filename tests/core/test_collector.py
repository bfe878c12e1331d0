"""The hotline's paced garbage collector, with CPython's real collector."""

from __future__ import annotations

import asyncio
import gc
import time
import weakref
from collections.abc import Iterator

import pytest

from core.collector import Activity, PacedCollector


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def _cycle() -> weakref.ref[_Node]:
    """A reference cycle nothing else holds: only a garbage collection frees it."""
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    return weakref.ref(a)


@pytest.fixture
def restored() -> Iterator[None]:
    yield
    gc.unfreeze()
    gc.enable()


@pytest.mark.usefixtures("restored")
def test_taking_over_stops_automatic_collection_until_a_paced_one() -> None:
    collector = PacedCollector(1.0)
    collector.take_over()
    assert not gc.isenabled()
    cycle = _cycle()
    # Far more allocations than the automatic threshold (700) would let pass.
    junk = [[i] for i in range(20_000)]
    del junk
    assert cycle() is not None, "collected although the automatic collector is off"
    assert collector.collect() >= 2
    assert cycle() is None
    assert collector.stats.runs == 1 and collector.stats.freed >= 2
    assert collector.stats.longest_s > 0
    collector.give_back()
    assert gc.isenabled()


@pytest.mark.usefixtures("restored")
def test_the_paced_collector_frees_cycles_every_interval_and_everything_now_and_then() -> None:
    collector = PacedCollector(0.02, full_every=3)
    collector.take_over()
    freed: list[bool] = []

    async def scenario() -> None:
        task = asyncio.create_task(collector.run())
        for _ in range(5):
            cycle = _cycle()
            await asyncio.sleep(0.1)
            freed.append(cycle() is None)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert freed == [True] * 5
    stats = collector.stats
    assert stats.runs >= 10
    assert stats.full_runs == stats.runs // 3
    assert f"{stats.runs} runs ({stats.full_runs} full)" in stats.describe()


def test_an_interval_of_zero_is_refused() -> None:
    with pytest.raises(ValueError, match="interval above 0"):
        PacedCollector(0)


async def _busy(watched: Activity, seconds: float) -> None:
    """Steps in hand without a pause, as when every caller presses a key at once."""
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        watched.note()
        await asyncio.sleep(0.005)


@pytest.mark.usefixtures("restored")
def test_a_collection_waits_for_a_moment_without_steps() -> None:
    watched = Activity()
    collector = PacedCollector(0.2, watched=watched, quiet_s=0.1)
    collector.take_over()
    during: list[int] = []

    async def scenario() -> None:
        task = asyncio.create_task(collector.run())
        await _busy(watched, 0.35)  # the first collection is due at 0.2 s
        during.append(collector.stats.runs)
        await asyncio.sleep(0.2)  # quiet from 0.45 s, before its deadline (0.6 s)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())
    assert during == [0], "collected while steps were in hand"
    assert collector.stats.runs == 1 and collector.stats.unquiet == 0


@pytest.mark.usefixtures("restored")
def test_a_hotline_that_is_never_quiet_still_collects() -> None:
    watched = Activity()
    collector = PacedCollector(0.1, watched=watched, quiet_s=0.1)
    collector.take_over()

    async def scenario() -> None:
        task = asyncio.create_task(collector.run())
        await _busy(watched, 1.0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())
    # Due every 0.1 s, each waits two intervals at most: about one collection per 0.3 s.
    assert 2 <= collector.stats.runs <= 4
    assert collector.stats.unquiet == collector.stats.runs
    assert f"{collector.stats.unquiet} without a quiet moment" in collector.stats.describe()
