"""Periodic tasks (the scheduler process): each runs in its own short transaction."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from core import queue
from core.clock import Clock
from core.db import Database

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PeriodicTask:
    name: str
    interval_s: float
    run: Callable[[Session, datetime], object]


def queue_housekeeping() -> PeriodicTask:
    """Show jobs whose worker died as queued (or dead) again, even with no worker running."""
    return PeriodicTask(
        "queue.reap_expired", 30.0, lambda session, now: queue.reap_expired(session, now=now)
    )


def run_periodic(
    db: Database, tasks: Sequence[PeriodicTask], clock: Clock, stop: threading.Event
) -> None:
    """Run each task every ``interval_s`` until ``stop`` is set."""
    due = {task.name: 0.0 for task in tasks}
    tick = min((task.interval_s for task in tasks), default=1.0) / 2
    elapsed = 0.0
    while not stop.is_set():
        for task in tasks:
            if elapsed < due[task.name]:
                continue
            due[task.name] = elapsed + task.interval_s
            try:
                with db.transaction() as session:
                    result = task.run(session, clock.now())
                logger.debug("periodic %s -> %s", task.name, result)
            except SQLAlchemyError as exc:
                logger.warning("periodic %s: database error %s", task.name, type(exc).__name__)
        if stop.wait(tick):
            return
        elapsed += tick
