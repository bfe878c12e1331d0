"""The process runner's exit status."""

from __future__ import annotations

import asyncio
from datetime import datetime

from sqlalchemy.orm import Session

from core.db import Database
from core.periodic import PeriodicTask
from core.settings import Settings
from desbumi.runtime import Part, Runtime


class _ThreadDeath(BaseException):
    """What ends the scheduler's thread itself: a task's ordinary exception does not (the
    scheduler logs it and runs the task again), so the test raises past that."""


def test_a_part_that_dies_makes_the_exit_status_fail(settings: Settings, db: Database) -> None:
    def broken(session: Session, now: datetime) -> None:
        raise _ThreadDeath

    runtime = Runtime(settings, db, periodic_tasks=[PeriodicTask("broken", 0.05, broken)])
    status = asyncio.run(asyncio.wait_for(runtime.run({Part.scheduler}), 20))
    assert status == 1
    assert runtime.stop_threads.is_set()
