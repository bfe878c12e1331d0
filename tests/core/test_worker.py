"""The job runner: effects commit with completion, failures retry, leases are kept alive."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from core import queue
from core.clock import SystemClock
from core.db import Database
from core.errors import JobFailed, JobHeld
from core.models import AuditEvent, Job
from core.queue import ClaimedJob
from core.settings import WorkerSettings
from core.states import JobState
from core.worker import Effect, Handler, Worker


class StepClock:
    def __init__(self) -> None:
        self.current = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current


def _settings(**overrides: float) -> WorkerSettings:
    values = {
        "lease_s": 30.0,
        "poll_interval_s": 0.01,
        "backoff_base_s": 10.0,
        "concurrency": 1,
        **overrides,
    }
    return WorkerSettings(**values)  # type: ignore[arg-type]


def _effect(label: str) -> Effect:
    def apply(session: Session) -> None:
        session.add(AuditEvent(at=datetime.now(UTC), actor_kind="system", action=label))

    return apply


def _enqueue(db: Database, clock: StepClock | SystemClock, kind: str = "k", **kw: int) -> int:
    with db.transaction() as s:
        return queue.enqueue(s, kind, {}, now=clock.now(), **kw).id  # type: ignore[arg-type]


def _job(db: Database, job_id: int) -> Job:
    with db.read_session() as s:
        job = s.get(Job, job_id)
        assert job is not None
        return job


def _audit_count(db: Database, action: str) -> int:
    with db.read_session() as s:
        return int(s.scalar(select(func.count()).where(AuditEvent.action == action)) or 0)


def _worker(db: Database, handler: Handler, clock: object, **settings: float) -> Worker:
    return Worker(db, {"k": handler}, _settings(**settings), clock, owner="test")  # type: ignore[arg-type]


def test_effect_is_committed_with_success(db: Database) -> None:
    clock = StepClock()
    job_id = _enqueue(db, clock)
    worker = _worker(db, lambda job: _effect("done"), clock)
    assert worker.run_once() is True
    assert worker.run_once() is False
    assert _job(db, job_id).state is JobState.succeeded
    assert _audit_count(db, "done") == 1
    assert worker.stats.succeeded == 1


def test_handler_error_is_retried_with_backoff_then_dead(db: Database) -> None:
    clock = StepClock()
    job_id = _enqueue(db, clock, max_attempts=2)

    def broken(job: ClaimedJob) -> Effect:
        raise OSError("disk on fire")

    worker = _worker(db, broken, clock)
    assert worker.run_once()
    job = _job(db, job_id)
    assert job.state is JobState.queued and job.last_error == "OSError: disk on fire"
    assert job.run_after > clock.now(), "retry waits for its backoff"
    assert not worker.run_once()
    clock.current = job.run_after
    assert worker.run_once()
    assert _job(db, job_id).state is JobState.dead
    assert (worker.stats.retried, worker.stats.dead) == (1, 1)


def test_failing_effect_commits_nothing(db: Database) -> None:
    clock = StepClock()
    job_id = _enqueue(db, clock)

    def half_written(session: Session) -> None:
        session.add(AuditEvent(at=clock.now(), actor_kind="system", action="half"))
        session.flush()
        raise ValueError("constraint broken")

    worker = _worker(db, lambda job: half_written, clock)
    worker.run_once()
    assert _audit_count(db, "half") == 0
    assert _job(db, job_id).state is JobState.queued


def test_permanent_failure_and_hold(db: Database) -> None:
    clock = StepClock()
    failing = _enqueue(db, clock)

    def permanent(job: ClaimedJob) -> Effect:
        raise JobFailed("recording unreadable: not audio")

    _worker(db, permanent, clock).run_once()
    job = _job(db, failing)
    assert (job.state, job.attempts, job.last_error) == (
        JobState.dead,
        1,
        "recording unreadable: not audio",
    )

    held = _enqueue(db, clock)

    def waiting(job: ClaimedJob) -> Effect:
        raise JobHeld("awaiting_model: no Vosk model for 'jv'")

    _worker(db, waiting, clock).run_once()
    job = _job(db, held)
    assert job.state is JobState.held and job.held_reason is not None
    assert "awaiting_model" in job.held_reason


def test_heartbeat_keeps_a_long_job_from_being_taken(db: Database) -> None:
    clock = SystemClock()
    job_id = _enqueue(db, clock)
    started = threading.Event()

    def slow(job: ClaimedJob) -> Effect:
        started.set()
        time.sleep(1.5)  # three times the lease: only heartbeats keep it
        return _effect("slow")

    worker = _worker(db, slow, clock, lease_s=0.5)
    runner = threading.Thread(target=worker.run_once)
    runner.start()
    assert started.wait(10)
    rival = _worker(db, lambda job: _effect("rival"), clock, lease_s=0.5)
    deadline = time.monotonic() + 1.2
    while time.monotonic() < deadline:
        assert rival.run_once() is False, "the rival took a job whose owner is alive"
        time.sleep(0.05)
    runner.join(10)
    assert _job(db, job_id).state is JobState.succeeded
    assert (_audit_count(db, "slow"), _audit_count(db, "rival")) == (1, 0)


def test_result_of_a_worker_that_lost_its_lease_is_discarded(db: Database) -> None:
    clock = StepClock()
    job_id = _enqueue(db, clock)

    def overtaken(job: ClaimedJob) -> Effect:
        # Meanwhile the lease ran out and another worker took the job.
        clock.current += timedelta(minutes=5)
        with db.transaction() as s:
            assert (
                queue.claim(s, ["k"], owner="other", now=clock.now(), lease=timedelta(seconds=30))
                is not None
            )
        return _effect("stale")

    worker = _worker(db, overtaken, clock)
    worker.run_once()
    assert _audit_count(db, "stale") == 0
    assert worker.stats.lost == 1
    job = _job(db, job_id)
    assert (job.state, job.lease_owner) == (JobState.running, "other")


def test_run_forever_stops_and_survives_database_errors(db: Database) -> None:
    clock = SystemClock()
    for _ in range(3):
        _enqueue(db, clock)
    worker = _worker(db, lambda job: _effect("loop"), clock)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run_threads, args=(stop, 2))
    thread.start()
    deadline = time.monotonic() + 20
    while _audit_count(db, "loop") < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    thread.join(10)
    assert not thread.is_alive()
    assert _audit_count(db, "loop") == 3


def test_worker_waits_out_an_unreachable_database() -> None:
    """Every claim fails: the loop logs, backs off and keeps running until stopped."""
    unreachable = Database(create_engine("sqlite:////proc/no-such-dir/desbumi.db"))
    worker = Worker(unreachable, {"k": lambda job: None}, _settings(), SystemClock(), owner="t")
    stop = threading.Event()
    thread = threading.Thread(target=worker.run_forever, args=(stop,))
    thread.start()
    time.sleep(0.3)
    assert thread.is_alive(), "a database error must not kill the worker loop"
    stop.set()
    thread.join(5)
    assert not thread.is_alive()
    unreachable.dispose()


def test_failure_and_hold_effects_commit_with_the_new_state(db: Database) -> None:
    clock = StepClock()
    failing = _enqueue(db, clock)

    def unreadable(job: ClaimedJob) -> Effect:
        raise JobFailed("recording unreadable", effect=_effect("flagged unreadable"))

    _worker(db, unreadable, clock).run_once()
    assert _job(db, failing).state is JobState.dead
    assert _audit_count(db, "flagged unreadable") == 1

    held = _enqueue(db, clock)

    def no_model(job: ClaimedJob) -> Effect:
        raise JobHeld("awaiting_model", effect=_effect("flagged awaiting model"))

    _worker(db, no_model, clock).run_once()
    assert _job(db, held).state is JobState.held
    assert _audit_count(db, "flagged awaiting model") == 1
