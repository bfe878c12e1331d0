"""The scheduler's periodic task loop."""

from __future__ import annotations

import threading
import time
from datetime import datetime

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from core.clock import SystemClock
from core.db import Database
from core.periodic import PeriodicTask, queue_housekeeping, run_periodic


def test_tasks_run_on_their_interval_and_survive_database_errors(db: Database) -> None:
    runs: list[str] = []

    def fast(session: Session, now: datetime) -> int:
        runs.append("fast")
        return 0

    def broken(session: Session, now: datetime) -> None:
        runs.append("broken")
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    stop = threading.Event()
    tasks = [
        PeriodicTask("fast", 0.05, fast),
        PeriodicTask("broken", 0.05, broken),
        PeriodicTask("slow", 60.0, lambda s, n: runs.append("slow")),
        queue_housekeeping(),
    ]
    thread = threading.Thread(target=run_periodic, args=(db, tasks, SystemClock(), stop))
    thread.start()
    deadline = time.monotonic() + 10
    while runs.count("fast") < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    thread.join(5)
    assert not thread.is_alive()
    assert runs.count("fast") >= 4
    assert runs.count("broken") >= 3, "a failing task keeps being scheduled"
    assert runs.count("slow") == 1, "a task runs once per interval, at the start first"
