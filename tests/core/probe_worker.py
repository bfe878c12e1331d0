"""A real worker process for the multi-process queue tests.

Run as ``python -m tests.core.probe_worker RUN_DIR`` with the DESBUMI_* environment of
the test database. Job kinds:

* ``probe.record``: sleeps ``payload["sleep"]`` seconds, then commits one AuditEvent
  (action "probe.effect", object_id = job id) as its effect. Each run also appends the
  job id to ``RUN_DIR/runs-<pid>.log`` before the effect, so the test sees every run,
  committed or not.
* ``probe.stall_first``: on its first attempt writes ``RUN_DIR/started-<job id>`` and
  sleeps for a minute (the test SIGKILLs it); later attempts behave like probe.record.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

from sqlalchemy.orm import Session

from core.clock import SystemClock
from core.db import Database
from core.models import AuditEvent
from core.queue import ClaimedJob
from core.settings import load_settings
from core.worker import Effect, Worker


def main() -> None:
    run_dir = Path(sys.argv[1])
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    settings = load_settings()
    db = Database.from_settings(settings)
    pid = os.getpid()
    clock = SystemClock()

    def effect_for(job: ClaimedJob) -> Effect:
        def apply(session: Session) -> None:
            session.add(
                AuditEvent(
                    at=clock.now(),
                    actor_kind="system",
                    action="probe.effect",
                    object_type="job",
                    object_id=str(job.id),
                    details={"pid": pid, "attempt": job.attempts},
                )
            )

        return apply

    def record(job: ClaimedJob) -> Effect:
        with (run_dir / f"runs-{pid}.log").open("a", encoding="utf-8") as log:
            log.write(f"{job.id}\n")
        time.sleep(float(job.payload.get("sleep", 0)))
        return effect_for(job)

    def stall_first(job: ClaimedJob) -> Effect:
        if job.attempts == 1:
            (run_dir / f"started-{job.id}").write_text(str(pid), encoding="utf-8")
            time.sleep(60)
        return record(job)

    worker = Worker(
        db,
        {"probe.record": record, "probe.stall_first": stall_first},
        settings.worker,
        clock,
        owner=f"probe-{pid}",
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    (run_dir / f"ready-{pid}").write_text("ready", encoding="utf-8")
    worker.run_threads(stop)
    db.dispose()


if __name__ == "__main__":
    main()
