"""The durable job queue, kept in the ``jobs`` table.

* A job is enqueued with :func:`enqueue` inside the same transaction as the domain change
  that needs it, so a case and its transcription job exist together or not at all.
* Workers :func:`claim` a job with a lease. On PostgreSQL the claim is
  ``UPDATE ... WHERE id = (SELECT ... FOR UPDATE SKIP LOCKED LIMIT 1)``, so any number of
  worker processes on any number of machines share one queue; on SQLite the same single
  statement runs under SQLite's one-writer lock.
* Every claim gets a fresh ``lease_token``. Completing, failing or extending a lease only
  works with the current token (fencing): a worker that stalled past its lease, and whose
  job another worker has taken, can no longer finish it.
* A failed job is retried after an exponential backoff; after ``max_attempts`` it is
  ``dead`` with the last error kept. A job whose worker died is claimable again once its
  lease expires; :func:`reap_expired` also returns such jobs to the queue.

All functions take the ``Session`` and ``now``; none of them commits.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BindParameter, Select, Text, Update, bindparam, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.errors import InvalidTransition, LeaseLost
from core.models import Job
from core.states import JobState, check_transition
from core.types import UTCDateTime

MAX_ERROR_CHARS = 4000


@dataclass(frozen=True)
class ClaimedJob:
    """What a worker holds while running a job."""

    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    lease_token: str


def enqueue(
    session: Session,
    kind: str,
    payload: dict[str, Any] | None = None,
    *,
    now: datetime,
    priority: int = 0,
    run_after: datetime | None = None,
    unique_key: str | None = None,
    max_attempts: int = 5,
) -> Job:
    """Add a job; with ``unique_key``, return the existing job of that key instead."""
    if unique_key is not None:
        existing = session.scalar(select(Job).where(Job.unique_key == unique_key))
        if existing is not None:
            return existing
    job = Job(
        kind=kind,
        payload=dict(payload or {}),
        state=JobState.queued,
        priority=priority,
        unique_key=unique_key,
        attempts=0,
        max_attempts=max_attempts,
        run_after=run_after or now,
        created_at=now,
        updated_at=now,
    )
    if unique_key is None:
        session.add(job)
        session.flush()
        return job
    try:
        # Another process may enqueue the same key between our look-up and insert; the
        # savepoint keeps the caller's transaction usable when the insert loses.
        with session.begin_nested():
            session.add(job)
    except IntegrityError:
        winner = session.scalar(select(Job).where(Job.unique_key == unique_key))
        if winner is None:
            raise
        return winner
    return job


def claim(
    session: Session,
    kinds: Iterable[str],
    *,
    owner: str,
    now: datetime,
    lease: timedelta,
) -> ClaimedJob | None:
    """Take the next runnable job of one of ``kinds``, or return None.

    Runnable: queued and due, or running with an expired lease (its worker died). A
    taken-over job that already used its last attempt is moved to ``dead`` instead.
    """
    kinds = list(kinds)
    if not kinds:
        return None
    while True:
        # Two indexed look-ups instead of one OR: with an OR, every claim scanned the
        # whole table, succeeded jobs included, and got slower as history grew.
        job = _claim_one(session, _CLAIM_EXPIRED, kinds, owner, now, lease)
        if job is None:
            job = _claim_one(session, _CLAIM_DUE, kinds, owner, now, lease)
        if job is None:
            return None
        if job.attempts <= job.max_attempts:
            return job
        _finish(
            session,
            job,
            JobState.dead,
            now,
            last_error=f"worker lost during its last attempt ({job.max_attempts} of "
            f"{job.max_attempts}): the lease expired",
        )


def _claim_statement(candidates: Select[Any]) -> Update:
    candidate = candidates.limit(1).with_for_update(skip_locked=True).scalar_subquery()
    return (
        update(Job)
        .where(Job.id == candidate)
        .values(
            state=JobState.running,
            attempts=Job.attempts + 1,
            lease_token=bindparam("p_token"),
            lease_owner=bindparam("p_owner"),
            lease_expires_at=bindparam("p_expires"),
            updated_at=bindparam("p_now"),
        )
        .returning(Job.id, Job.kind, Job.payload, Job.attempts, Job.max_attempts)
        .execution_options(synchronize_session=False)
    )


# The statements of the hot path are built once: building them per call cost more
# than running them (bench/queue_throughput.py).
_KINDS: BindParameter[list[str]] = bindparam("p_kinds", expanding=True)
_CLAIM_DUE = _claim_statement(
    select(Job.id)
    .where(Job.state == JobState.queued, Job.kind.in_(_KINDS), Job.run_after <= bindparam("p_now"))
    .order_by(Job.priority.desc(), Job.run_after, Job.id)
)
# Running jobs whose worker stopped renewing its lease (it died or hangs).
_CLAIM_EXPIRED = _claim_statement(
    select(Job.id)
    .where(
        Job.state == JobState.running,
        Job.lease_expires_at < bindparam("p_now"),
        Job.kind.in_(_KINDS),
    )
    .order_by(Job.lease_expires_at)
)
_HELD_BY_TOKEN = (
    Job.id == bindparam("p_id"),
    Job.lease_token == bindparam("p_token"),
    Job.state == JobState.running,
)
_EXTEND = (
    update(Job)
    .where(*_HELD_BY_TOKEN)
    .values(lease_expires_at=bindparam("p_expires"), updated_at=bindparam("p_now"))
    .execution_options(synchronize_session=False)
)
_FINISH = (
    update(Job)
    .where(*_HELD_BY_TOKEN)
    .values(
        state=bindparam("p_state"),
        lease_token=None,
        lease_owner=None,
        lease_expires_at=None,
        updated_at=bindparam("p_now"),
        # NULL keeps the column as it is.
        finished_at=func.coalesce(bindparam("p_finished", type_=UTCDateTime()), Job.finished_at),
        run_after=func.coalesce(bindparam("p_run_after", type_=UTCDateTime()), Job.run_after),
        last_error=func.coalesce(bindparam("p_error", type_=Text()), Job.last_error),
        held_reason=func.coalesce(bindparam("p_held", type_=Text()), Job.held_reason),
    )
    .execution_options(synchronize_session=False)
)


def _claim_one(
    session: Session,
    statement: Update,
    kinds: list[str],
    owner: str,
    now: datetime,
    lease: timedelta,
) -> ClaimedJob | None:
    token = secrets.token_hex(16)
    params = {
        "p_kinds": kinds,
        "p_now": now,
        "p_token": token,
        "p_owner": owner,
        "p_expires": now + lease,
    }
    row = session.execute(statement, params).one_or_none()
    if row is None:
        return None
    return ClaimedJob(
        id=row.id,
        kind=row.kind,
        payload=dict(row.payload or {}),
        attempts=row.attempts,
        max_attempts=row.max_attempts,
        lease_token=token,
    )


def extend_lease(session: Session, job: ClaimedJob, *, now: datetime, lease: timedelta) -> None:
    """Keep a long job's lease alive; raise LeaseLost if another worker has taken it."""
    params = {"p_id": job.id, "p_token": job.lease_token, "p_now": now, "p_expires": now + lease}
    if session.execute(_EXTEND, params).rowcount != 1:  # type: ignore[attr-defined]
        raise LeaseLost(f"job {job.id}: lease lost")


def complete(session: Session, job: ClaimedJob, *, now: datetime) -> None:
    """Mark the job succeeded. Commit it with the job's effects, in one transaction."""
    _finish(session, job, JobState.succeeded, now)


def hold(session: Session, job: ClaimedJob, reason: str, *, now: datetime) -> JobState:
    """Park the job until :func:`release_held` (it waits on something outside)."""
    _finish(session, job, JobState.held, now, held_reason=reason[:MAX_ERROR_CHARS])
    return JobState.held


def fail(
    session: Session,
    job: ClaimedJob,
    error: str,
    *,
    now: datetime,
    retry_in: timedelta | None,
) -> JobState:
    """Record a failed attempt: queue it again after ``retry_in``, or dead-letter it.

    ``retry_in=None`` means the error is permanent. Returns the job's new state.
    """
    error = error[:MAX_ERROR_CHARS]
    if retry_in is None or job.attempts >= job.max_attempts:
        _finish(session, job, JobState.dead, now, last_error=error)
        return JobState.dead
    _finish(session, job, JobState.queued, now, last_error=error, run_after=now + retry_in)
    return JobState.queued


def _finish(
    session: Session,
    job: ClaimedJob,
    target: JobState,
    now: datetime,
    *,
    last_error: str | None = None,
    held_reason: str | None = None,
    run_after: datetime | None = None,
) -> None:
    finished = now if target in (JobState.succeeded, JobState.dead) else None
    params = {
        "p_id": job.id,
        "p_token": job.lease_token,
        "p_state": target,
        "p_now": now,
        "p_finished": finished,
        "p_run_after": run_after,
        "p_error": last_error,
        "p_held": held_reason,
    }
    if session.execute(_FINISH, params).rowcount != 1:  # type: ignore[attr-defined]
        raise LeaseLost(f"job {job.id}: lease lost before it could be marked {target}")


def backoff_delay(
    attempts: int, *, base_s: float, max_s: float, rng: random.Random | None = None
) -> timedelta:
    """Exponential backoff with jitter: about base * 2^(attempts-1), capped at ``max_s``.

    The jitter (0.8x to 1.2x) keeps many jobs that failed together (the database went
    away) from all coming back in the same second.
    """
    exponent = max(0, attempts - 1)
    delay = min(max_s, base_s * (2 ** min(exponent, 30)))
    jitter = (rng or random).uniform(0.8, 1.2)  # noqa: S311 - timing jitter, not security
    return timedelta(seconds=min(max_s, delay * jitter))


def reap_expired(session: Session, *, now: datetime) -> int:
    """Return running jobs whose lease expired to the queue (or dead-letter them).

    Workers take such jobs over by themselves; this makes the state true for people
    looking at the queue when no worker of that kind is running. Returns how many moved.
    """
    moved = session.execute(
        update(Job)
        .where(
            Job.state == JobState.running,
            Job.lease_expires_at < now,
            Job.attempts < Job.max_attempts,
        )
        .values(
            state=JobState.queued,
            lease_token=None,
            lease_owner=None,
            lease_expires_at=None,
            run_after=now,
            last_error="worker lost: the lease expired",
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    dead = session.execute(
        update(Job)
        .where(
            Job.state == JobState.running,
            Job.lease_expires_at < now,
            Job.attempts >= Job.max_attempts,
        )
        .values(
            state=JobState.dead,
            lease_token=None,
            lease_owner=None,
            lease_expires_at=None,
            finished_at=now,
            last_error="worker lost during its last attempt: the lease expired",
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    return int(moved) + int(dead)


def release_held(
    session: Session, kind: str, *, now: datetime, payload_match: dict[str, Any] | None = None
) -> int:
    """Queue again the held jobs of ``kind`` (whose payload contains ``payload_match``)."""
    jobs = session.scalars(
        select(Job).where(Job.kind == kind, Job.state == JobState.held).with_for_update()
    ).all()
    released = 0
    for job in jobs:
        if payload_match and any(job.payload.get(k) != v for k, v in payload_match.items()):
            continue
        _requeue(job, now)
        job.held_reason = None
        released += 1
    return released


def retry_dead(session: Session, job_id: int, *, now: datetime) -> Job:
    """An operator's retry of a dead job: attempts start again from zero."""
    job = session.get(Job, job_id, with_for_update=True)
    if job is None:
        raise LookupError(f"no job {job_id}")
    if job.state is not JobState.dead:
        raise InvalidTransition("JobState", str(job.state), str(JobState.queued))
    _requeue(job, now)
    job.attempts = 0
    job.finished_at = None
    return job


def _requeue(job: Job, now: datetime) -> None:
    job.state = check_transition(job.state, JobState.queued)
    job.run_after = now
    job.updated_at = now


def stuck(session: Session, limit: int = 50) -> list[Job]:
    """Dead and held jobs, newest first: what an operator must look at."""
    return list(
        session.scalars(
            select(Job)
            .where(Job.state.in_([JobState.dead, JobState.held]))
            .order_by(Job.updated_at.desc(), Job.id.desc())
            .limit(limit)
        )
    )


def counts(session: Session) -> dict[str, dict[str, int]]:
    """Jobs per kind and state: ``{"transcribe": {"queued": 3, "dead": 1}, ...}``."""
    rows = session.execute(select(Job.kind, Job.state, func.count()).group_by(Job.kind, Job.state))
    result: dict[str, dict[str, int]] = {}
    for kind, state, count in rows:
        result.setdefault(kind, {})[str(state)] = int(count)
    return result
