"""The job runner: claims jobs, runs their handlers, and commits their effects.

A handler does its slow work (decoding audio, encoding a segment) outside any database
transaction and returns an *effect*: a function that writes its results into a Session.
The runner applies the effect and marks the job succeeded in ONE transaction, fenced by
the lease token. So a job's effects are committed exactly once, even when a worker is
killed mid-job and another one runs it again after the lease expires.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from core import queue
from core.clock import Clock
from core.db import Database
from core.errors import JobFailed, JobHeld, LeaseLost
from core.queue import ClaimedJob
from core.settings import WorkerSettings
from core.states import JobState

logger = logging.getLogger(__name__)

Effect = Callable[[Session], None]
Handler = Callable[[ClaimedJob], Effect | None]


def default_owner() -> str:
    """``host:pid``: enough to find the worker that holds a lease."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class WorkerStats:
    succeeded: int = 0
    retried: int = 0
    dead: int = 0
    held: int = 0
    lost: int = 0


class _Heartbeat:
    """Extends a running job's lease every third of the lease while the handler works."""

    def __init__(self, runner: Worker, job: ClaimedJob) -> None:
        self._runner = runner
        self._job = job
        self._stop = threading.Event()
        self.lost = False
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{job.id}", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        interval = self._runner.lease.total_seconds() / 3
        while not self._stop.wait(interval):
            try:
                with self._runner.db.transaction() as session:
                    queue.extend_lease(
                        session, self._job, now=self._runner.clock.now(), lease=self._runner.lease
                    )
            except LeaseLost:
                logger.warning("job_id=%s lease lost while running", self._job.id)
                self.lost = True
                return
            except SQLAlchemyError as exc:
                # Keep trying: the lease is three intervals long.
                logger.warning("job_id=%s heartbeat failed: %s", self._job.id, type(exc).__name__)


class Worker:
    """Runs jobs of the kinds in ``handlers`` until told to stop."""

    def __init__(
        self,
        db: Database,
        handlers: Mapping[str, Handler],
        settings: WorkerSettings,
        clock: Clock,
        owner: str | None = None,
    ) -> None:
        self.db = db
        self.handlers = dict(handlers)
        self.settings = settings
        self.clock = clock
        self.owner = owner or default_owner()
        self.lease = timedelta(seconds=settings.lease_s)
        self.stats = WorkerStats()
        self._stats_lock = threading.Lock()

    def run_once(self) -> bool:
        """Claim and run one job. Returns False when no job was due."""
        with self.db.transaction() as session:
            job = queue.claim(
                session,
                self.handlers,
                owner=self.owner,
                now=self.clock.now(),
                lease=self.lease,
            )
        if job is None:
            return False
        logger.info("job_id=%s kind=%s attempt=%s started", job.id, job.kind, job.attempts)
        self._execute(job)
        return True

    def _execute(self, job: ClaimedJob) -> None:
        handler = self.handlers[job.kind]
        outcome: str
        try:
            with _Heartbeat(self, job) as beat:
                effect = handler(job)
            if beat.lost:
                raise LeaseLost(f"job {job.id}: lease lost while running")
            with self.db.transaction() as session:
                if effect is not None:
                    effect(session)
                queue.complete(session, job, now=self.clock.now())
            outcome = "succeeded"
        except LeaseLost:
            # Another worker owns the job now; whatever this one did is rolled back.
            logger.warning("job_id=%s lease lost; result discarded", job.id)
            outcome = "lost"
        except JobHeld as held:
            reason, effect = str(held), held.effect
            outcome = self._settle(
                lambda session: queue.hold(session, job, reason, now=self.clock.now()), effect
            )
        except JobFailed as failed:
            outcome = self._fail(job, str(failed), permanent=True, effect=failed.effect)
        except Exception as exc:  # the job edge: any handler error becomes a retry
            logger.exception("job_id=%s kind=%s failed", job.id, job.kind)
            outcome = self._fail(job, f"{type(exc).__name__}: {exc}", permanent=False)
        logger.info("job_id=%s kind=%s %s", job.id, job.kind, outcome)
        with self._stats_lock:
            field = {"queued": "retried"}.get(outcome, outcome)
            setattr(self.stats, field, getattr(self.stats, field) + 1)

    def _fail(
        self, job: ClaimedJob, error: str, *, permanent: bool, effect: Effect | None = None
    ) -> str:
        retry_in = None
        if not permanent:
            retry_in = queue.backoff_delay(
                job.attempts, base_s=self.settings.backoff_base_s, max_s=self.settings.backoff_max_s
            )

        def record(session: Session) -> JobState:
            return queue.fail(session, job, error, now=self.clock.now(), retry_in=retry_in)

        return self._settle(record, effect)

    def _settle(self, apply: Callable[[Session], JobState], effect: Effect | None = None) -> str:
        """Apply the job's new state (and ``effect`` with it); returns the state, or "lost"."""
        try:
            with self.db.transaction() as session:
                if effect is not None:
                    effect(session)
                state = apply(session)
        except LeaseLost:
            return "lost"
        return str(state)

    def run_forever(self, stop: threading.Event) -> None:
        """Loop until ``stop`` is set; the current job finishes first."""
        idle = self.settings.poll_interval_s
        while not stop.is_set():
            try:
                worked = self.run_once()
            except SQLAlchemyError as exc:
                # The database is away (restart, network): wait longer each time, keep going.
                logger.warning(
                    "worker %s: database error %s; waiting %.0f s",
                    self.owner,
                    type(exc).__name__,
                    idle,
                )
                stop.wait(idle)
                idle = min(idle * 2, 30.0)
                continue
            idle = self.settings.poll_interval_s
            if not worked:
                stop.wait(idle)

    def run_threads(self, stop: threading.Event, threads: int | None = None) -> None:
        """Run ``threads`` loops (default: the concurrency setting) and wait for them."""
        count = threads or self.settings.concurrency
        pool = [
            threading.Thread(target=self.run_forever, args=(stop,), name=f"worker-{i}")
            for i in range(count)
        ]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
