"""Periodic tasks (the scheduler process): each runs in its own short transaction."""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

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


class Failures:
    """What a periodic task could not handle (a file, a call): counted every time, and
    warned about once, the first time, so a stuck one is seen without flooding the log.
    The warning names it and the exception's type only (its text may quote caller data).
    """

    def __init__(self, log: logging.Logger, what: str) -> None:
        # "voicemail %s": the warning is "<what>: not stored (Type); kept, tried again ..."
        self._log = log
        self._what = what
        self.count = 0
        self._seen: set[str] = set()

    def failed(self, name: str, exc: BaseException) -> None:
        self.count += 1
        if name not in self._seen:
            self._seen.add(name)
            self._log.warning(
                "%s: not stored (%s); the file is kept and tried again each sweep",
                self._what % name,
                type(exc).__name__,
            )

    def succeeded(self, name: str) -> None:
        self._seen.discard(name)


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
            except Exception as exc:
                # A bug or a bad file in one task must not end the scheduler: the process
                # would stop, be restarted and meet the same file again, and every other
                # task (callbacks, radio, retention) would stop with it. The message and
                # the traceback's text are not logged: they may quote a caller's data.
                logger.error(
                    "periodic %s failed: %s at %s", task.name, type(exc).__name__, _where(exc)
                )
        if stop.wait(tick):
            return
        elapsed += tick


def _where(exc: BaseException) -> str:
    """Where ``exc`` was raised, as ``file:line`` of the innermost frame."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "?"
    return f"{Path(frames[-1].filename).name}:{frames[-1].lineno}"
