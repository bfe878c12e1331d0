"""The durable job queue on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from core import queue
from core.db import Database
from core.errors import InvalidTransition, LeaseLost
from core.models import Case, District, Job
from core.states import JobState

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)


def _enqueue(db: Database, kind: str = "k", **kwargs: object) -> int:
    with db.transaction() as s:
        return queue.enqueue(s, kind, {"n": 1}, now=T0, **kwargs).id  # type: ignore[arg-type]


def _claim(db: Database, now: datetime = T0, owner: str = "w1", kinds: tuple[str, ...] = ("k",)):
    with db.transaction() as s:
        return queue.claim(s, kinds, owner=owner, now=now, lease=LEASE)


def _job(db: Database, job_id: int) -> Job:
    with db.read_session() as s:
        job = s.get(Job, job_id)
        assert job is not None
        return job


def test_claim_complete_round_trip(db: Database) -> None:
    job_id = _enqueue(db)
    claimed = _claim(db)
    assert claimed is not None
    assert (claimed.id, claimed.kind, claimed.payload) == (job_id, "k", {"n": 1})
    assert claimed.attempts == 1
    assert _claim(db) is None, "a leased job must not be handed out twice"
    with db.transaction() as s:
        queue.complete(s, claimed, now=T0 + timedelta(seconds=1))
    job = _job(db, job_id)
    assert job.state is JobState.succeeded
    assert job.finished_at == T0 + timedelta(seconds=1)
    assert job.lease_token is None
    assert _claim(db, now=T0 + timedelta(hours=1)) is None


def test_only_requested_kinds_are_claimed(db: Database) -> None:
    _enqueue(db, kind="transcribe")
    assert _claim(db, kinds=("assemble",)) is None
    assert _claim(db, kinds=()) is None
    claimed = _claim(db, kinds=("assemble", "transcribe"))
    assert claimed is not None and claimed.kind == "transcribe"


def test_priority_then_due_time_order(db: Database) -> None:
    low = _enqueue(db)
    high = _enqueue(db, priority=10)
    later = _enqueue(db, priority=10, run_after=T0 + timedelta(minutes=5))
    order = []
    for _ in range(3):
        claimed = _claim(db, now=T0 + timedelta(minutes=10))
        assert claimed is not None
        order.append(claimed.id)
    assert order == [high, later, low]


def test_job_is_not_claimed_before_run_after(db: Database) -> None:
    _enqueue(db, run_after=T0 + timedelta(minutes=1))
    assert _claim(db, now=T0) is None
    assert _claim(db, now=T0 + timedelta(minutes=1)) is not None


def test_unique_key_gives_one_job(db: Database) -> None:
    first = _enqueue(db, unique_key="callback:abc:2026-11-22")
    second = _enqueue(db, unique_key="callback:abc:2026-11-22")
    assert first == second
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(Job)) == 1


def test_enqueue_is_part_of_the_domain_transaction(db: Database) -> None:
    """A case and its job are written together or not at all."""
    with pytest.raises(RuntimeError), db.transaction() as s:
        s.add(Case(reference="R1", created_at=T0, updated_at=T0))
        queue.enqueue(s, "transcribe", {"case": "R1"}, now=T0)
        raise RuntimeError("crash before commit")
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(Job)) == 0
        assert s.scalar(select(func.count()).select_from(Case)) == 0


def test_failures_back_off_then_dead_letter_with_last_error(db: Database) -> None:
    job_id = _enqueue(db, max_attempts=3)
    now = T0
    for attempt in (1, 2, 3):
        claimed = _claim(db, now=now)
        assert claimed is not None and claimed.attempts == attempt
        with db.transaction() as s:
            state = queue.fail(
                s, claimed, f"boom {attempt}", now=now, retry_in=timedelta(seconds=10 * attempt)
            )
        if attempt < 3:
            assert state is JobState.queued
            job = _job(db, job_id)
            assert job.run_after == now + timedelta(seconds=10 * attempt)
            assert _claim(db, now=now) is None, "not before the backoff has passed"
            now = job.run_after
    job = _job(db, job_id)
    assert job.state is JobState.dead
    assert job.last_error == "boom 3"
    assert job.attempts == 3
    assert _claim(db, now=now + timedelta(days=1)) is None


def test_permanent_failure_dead_letters_at_once(db: Database) -> None:
    job_id = _enqueue(db, max_attempts=5)
    claimed = _claim(db)
    assert claimed is not None
    with db.transaction() as s:
        assert queue.fail(s, claimed, "corrupt file", now=T0, retry_in=None) is JobState.dead
    assert _job(db, job_id).attempts == 1


def test_expired_lease_is_taken_over_and_old_holder_is_fenced_out(db: Database) -> None:
    job_id = _enqueue(db)
    first = _claim(db, owner="dead-worker")
    assert first is not None
    assert _claim(db, now=T0 + LEASE - timedelta(seconds=1), owner="w2") is None
    second = _claim(db, now=T0 + LEASE + timedelta(seconds=1), owner="w2")
    assert second is not None and second.id == job_id and second.attempts == 2
    assert second.lease_token != first.lease_token
    # The first worker wakes up late: it can neither finish nor extend the job.
    with pytest.raises(LeaseLost), db.transaction() as s:
        queue.complete(s, first, now=T0 + LEASE * 2)
    with pytest.raises(LeaseLost), db.transaction() as s:
        queue.extend_lease(s, first, now=T0 + LEASE * 2, lease=LEASE)
    with db.transaction() as s:
        queue.complete(s, second, now=T0 + LEASE * 2)
    job = _job(db, job_id)
    assert (job.state, job.attempts) == (JobState.succeeded, 2)


def test_extend_lease_keeps_the_job(db: Database) -> None:
    _enqueue(db)
    claimed = _claim(db)
    assert claimed is not None
    with db.transaction() as s:
        queue.extend_lease(s, claimed, now=T0 + timedelta(seconds=25), lease=LEASE)
    assert _claim(db, now=T0 + LEASE + timedelta(seconds=1), owner="w2") is None
    assert _claim(db, now=T0 + timedelta(seconds=56), owner="w2") is not None


def test_lost_worker_on_last_attempt_dead_letters(db: Database) -> None:
    job_id = _enqueue(db, max_attempts=1)
    assert _claim(db) is not None
    assert _claim(db, now=T0 + LEASE * 2, owner="w2") is None
    job = _job(db, job_id)
    assert job.state is JobState.dead
    assert "lease expired" in (job.last_error or "")


def test_reap_expired_requeues_or_dead_letters(db: Database) -> None:
    retryable = _enqueue(db, max_attempts=3)
    last_try = _enqueue(db, max_attempts=1)
    assert _claim(db) is not None and _claim(db) is not None
    with db.transaction() as s:
        assert queue.reap_expired(s, now=T0 + LEASE / 2) == 0
    with db.transaction() as s:
        assert queue.reap_expired(s, now=T0 + LEASE * 2) == 2
    assert _job(db, retryable).state is JobState.queued
    assert _job(db, last_try).state is JobState.dead


def test_hold_and_release(db: Database) -> None:
    a = _enqueue(db, kind="transcribe")
    with db.transaction() as s:
        queue.enqueue(s, "transcribe", {"language": "jv"}, now=T0)
    for _ in range(2):
        claimed = _claim(db, kinds=("transcribe",))
        assert claimed is not None
        with db.transaction() as s:
            queue.hold(s, claimed, "awaiting_model", now=T0)
    assert _claim(db, kinds=("transcribe",), now=T0 + timedelta(days=1)) is None
    assert _job(db, a).held_reason == "awaiting_model"
    with db.transaction() as s:
        assert queue.release_held(s, "transcribe", now=T0, payload_match={"language": "jv"}) == 1
    claimed = _claim(db, kinds=("transcribe",))
    assert claimed is not None and claimed.payload == {"language": "jv"}
    with db.transaction() as s:
        assert queue.release_held(s, "transcribe", now=T0) == 1
    assert _job(db, a).state is JobState.queued


def test_retry_dead_by_hand(db: Database) -> None:
    job_id = _enqueue(db, max_attempts=1)
    claimed = _claim(db)
    assert claimed is not None
    with db.transaction() as s:
        queue.fail(s, claimed, "x", now=T0, retry_in=None)
    with db.transaction() as s:
        queue.retry_dead(s, job_id, now=T0)
    assert (_job(db, job_id).state, _job(db, job_id).attempts) == (JobState.queued, 0)
    with pytest.raises(InvalidTransition), db.transaction() as s:
        queue.retry_dead(s, job_id, now=T0)
    with pytest.raises(LookupError), db.transaction() as s:
        queue.retry_dead(s, 999_999, now=T0)


def test_counts(db: Database) -> None:
    _enqueue(db, kind="a")
    _enqueue(db, kind="a")
    _enqueue(db, kind="b")
    assert _claim(db, kinds=("b",)) is not None
    with db.read_session() as s:
        assert queue.counts(s) == {"a": {"queued": 2}, "b": {"running": 1}}


def test_backoff_grows_and_is_capped() -> None:
    rng = random.Random(1)
    delays = [
        queue.backoff_delay(n, base_s=5, max_s=300, rng=rng).total_seconds() for n in range(1, 10)
    ]
    assert 4 <= delays[0] <= 6
    assert 8 <= delays[1] <= 12
    assert all(d <= 300 for d in delays)
    assert delays[-1] >= 240


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_unique_key_race_between_two_transactions(db: Database) -> None:
    """B inserts the same key while A's insert is uncommitted: B gets A's job, no error."""

    key = "callback:race"
    b_result: list[int] = []
    with db.transaction() as a:
        first = queue.enqueue(a, "callback", {}, now=T0, unique_key=key)

        def b() -> None:
            with db.transaction() as s:
                s.add(District(code="B", name="b's own change", timezone="Asia/Jakarta"))
                b_result.append(queue.enqueue(s, "callback", {}, now=T0, unique_key=key).id)

        thread = threading.Thread(target=b)
        thread.start()
        time.sleep(0.5)  # B now blocks on the uncommitted unique key of A
    thread.join(10)
    assert b_result == [first.id]
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(Job)) == 1
        assert s.scalar(select(District.name)) == "b's own change", "B's transaction survived"
