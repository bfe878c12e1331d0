"""Loop stalls of ``desbumi agi``, for ``bench/hotline_load.py --loop-stalls``.

Put on the server's PYTHONPATH with ``BENCH_LOOP_STALLS=FILE``: every event-loop
callback that runs longer than 0.3 ms is counted under where its task stopped next (the
innermost awaits), and at exit one line per place goes to FILE, the most time first. A
callback that runs that long holds up every other caller's step by as long. Python loads
this module by itself at start (site's ``sitecustomize``); without the variable it does
nothing, and it takes the variable out of the environment, so that the processes the
server starts (its database helper, the speech engine) leave the file to it.
"""

from __future__ import annotations

import atexit
import os
import time
from collections import defaultdict
from typing import Any

_OUT = os.environ.pop("BENCH_LOOP_STALLS", "")
_LONGER_THAN_NS = 300_000


def _where(callback: Any) -> str:
    task = getattr(callback, "__self__", None)
    coro = task.get_coro() if hasattr(task, "get_coro") else None
    names = []
    while coro is not None:
        frame = getattr(coro, "cr_frame", None)
        if frame is not None:
            names.append(f"{frame.f_code.co_name}:{frame.f_lineno}")
        coro = getattr(coro, "cr_await", None)
    return " > ".join(names[-4:]) or getattr(callback, "__qualname__", "callback")


def _install(out: str) -> None:
    import asyncio.events

    stalls: dict[str, list[float]] = defaultdict(list)
    run = asyncio.events.Handle._run

    def timed(self: asyncio.events.Handle) -> None:
        started = time.perf_counter_ns()
        run(self)
        took = time.perf_counter_ns() - started
        if took > _LONGER_THAN_NS:
            stalls[_where(self._callback)].append(took / 1e6)  # type: ignore[attr-defined]

    asyncio.events.Handle._run = timed  # type: ignore[method-assign]

    def write() -> None:
        with open(out, "w", encoding="utf-8") as handle:
            for where, ms in sorted(stalls.items(), key=lambda kv: -sum(kv[1])):
                ms.sort()
                handle.write(
                    f"{len(ms):6d} stalls, {sum(ms):8.1f} ms in all, p50 {ms[len(ms) // 2]:.2f}"
                    f" / max {ms[-1]:.2f} ms: {where}\n"
                )

    atexit.register(write)


if _OUT:
    _install(_OUT)
