"""Garbage collection at a pace the hotline sets, instead of at Python's allocation count.

CPython's automatic collector runs whenever 700 more container objects have been made than
freed: on a busy hotline that is many times a second, in the middle of whichever call's step
happens to allocate, and each run stops the one event loop that serves every call for 0.3
to 4 ms (bench/results/hotline_load.md). Objects made at start are frozen out of it
(``gc.freeze``); almost everything a call makes afterwards is freed by reference counting
alone, so the collections find next to nothing. :class:`PacedCollector` switches the
automatic collector off and collects the young and middle generations every ``interval_s``
seconds, and everything every ``full_every`` of those, from the event loop itself, in a
moment when no step of any call is in hand: callers press keys in bursts (they hear the same
prompts), and a collection in a burst delays every step queued behind it.
"""

from __future__ import annotations

import asyncio
import gc
import time
from dataclasses import dataclass

FULL_EVERY = 60
# A collection waits for this long without a step (AGI line) in hand ...
QUIET_S = 0.02
# ... but not for more than this many intervals: a hotline that is never quiet still collects.
MAX_WAIT_INTERVALS = 2


class Activity:
    """When the event loop last had a caller's step in hand: the FastAGI server notes each
    line it reads from Asterisk."""

    __slots__ = ("last",)

    def __init__(self) -> None:
        self.last = 0.0

    def note(self) -> None:
        self.last = time.monotonic()


activity = Activity()


@dataclass
class CollectorStats:
    runs: int = 0
    full_runs: int = 0
    freed: int = 0  # unreachable objects found (cycles reference counting could not free)
    longest_s: float = 0.0
    total_s: float = 0.0
    unquiet: int = 0  # collections that found no quiet moment before their deadline

    def describe(self) -> str:
        return (
            f"{self.runs} runs ({self.full_runs} full), {self.freed} objects freed, "
            f"longest {self.longest_s * 1000:.1f} ms, "
            f"average {self.total_s / max(self.runs, 1) * 1000:.2f} ms, "
            f"{self.unquiet} without a quiet moment"
        )


class PacedCollector:
    def __init__(
        self,
        interval_s: float,
        full_every: int = FULL_EVERY,
        watched: Activity = activity,
        quiet_s: float = QUIET_S,
    ) -> None:
        if interval_s <= 0:
            raise ValueError("a paced collector needs an interval above 0")
        self.interval_s = interval_s
        self.full_every = max(1, full_every)
        self.watched = watched
        self.quiet_s = quiet_s
        self.stats = CollectorStats()
        self._was_enabled = gc.isenabled()

    def take_over(self) -> None:
        """Freeze what exists now (it lives as long as the process) and switch the
        automatic collector off; :meth:`run` collects from now on."""
        self._was_enabled = gc.isenabled()
        gc.freeze()
        gc.disable()

    def collect(self) -> int:
        """One paced collection; returns the unreachable objects it found."""
        full = (self.stats.runs + 1) % self.full_every == 0
        started = time.perf_counter()
        found = gc.collect(2 if full else 1)
        took = time.perf_counter() - started
        stats = self.stats
        stats.runs += 1
        stats.full_runs += full
        stats.freed += found
        stats.total_s += took
        stats.longest_s = max(stats.longest_s, took)
        return found

    async def run(self) -> None:
        """Collect every ``interval_s``, in the first quiet moment, until cancelled."""
        while True:
            await asyncio.sleep(self.interval_s)
            deadline = time.monotonic() + self.interval_s * MAX_WAIT_INTERVALS
            while time.monotonic() - self.watched.last < self.quiet_s:
                if time.monotonic() >= deadline:
                    self.stats.unquiet += 1
                    break
                await asyncio.sleep(self.quiet_s / 2)
            self.collect()

    def give_back(self) -> None:
        """The automatic collector as it was before :meth:`take_over`."""
        if self._was_enabled:
            gc.enable()
