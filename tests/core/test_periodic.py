"""The scheduler's periodic task loop."""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime

import pytest
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


def test_a_task_that_raises_anything_is_logged_without_its_message_and_kept(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    runs: list[str] = []

    def buggy(session: Session, now: datetime) -> None:
        runs.append("buggy")
        raise RuntimeError("reading +6281234500077 failed")

    stop = threading.Event()
    tasks = [
        PeriodicTask("buggy", 0.05, buggy),
        PeriodicTask("fast", 0.05, lambda s, n: runs.append("fast")),
    ]
    caplog.set_level(logging.ERROR, logger="core.periodic")
    thread = threading.Thread(target=run_periodic, args=(db, tasks, SystemClock(), stop))
    thread.start()
    deadline = time.monotonic() + 10
    while runs.count("buggy") < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert thread.is_alive(), "the scheduler survives a task's bug"
    stop.set()
    thread.join(5)
    assert runs.count("buggy") >= 3 and runs.count("fast") >= 3
    messages = {r.getMessage() for r in caplog.records}
    assert len(messages) == 1
    (message,) = messages
    assert message.startswith("periodic buggy failed: RuntimeError at test_periodic.py:")
    assert "6281234500077" not in caplog.text
