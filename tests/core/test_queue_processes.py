"""Several real worker processes on one queue, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from core import queue
from core.clock import SystemClock
from core.db import Database
from core.models import AuditEvent, Job
from core.states import JobState
from tests.conftest import REPO, TEST_SECRET, wait_until

pytestmark = pytest.mark.slow


class Workers:
    def __init__(self, run_dir: Path, database_url: str, lease_s: float) -> None:
        self.run_dir = run_dir
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("DESBUMI_")}
        self.env.update(
            DESBUMI_DATA_DIR=str(run_dir / "var"),
            DESBUMI_SECRET_KEY=TEST_SECRET,
            DESBUMI_DATABASE__URL=database_url,
            DESBUMI_WORKER__LEASE_S=str(lease_s),
            DESBUMI_WORKER__POLL_INTERVAL_S="0.05",
            DESBUMI_WORKER__CONCURRENCY="1",
            DESBUMI_WORKER__BACKOFF_BASE_S="0",
            PYTHONPATH=str(REPO),
        )
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.core.probe_worker", str(self.run_dir)],
            env=self.env,
            cwd=REPO,
            stderr=subprocess.PIPE,
        )
        self.procs.append(proc)
        ready = self.run_dir / f"ready-{proc.pid}"
        wait_until(lambda: ready.exists() or proc.poll() is not None, 30, "worker start")
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stderr:
                proc.stderr.close()

    def runs(self) -> Counter[int]:
        """How often each job id was run (committed or not), over all processes."""
        counts: Counter[int] = Counter()
        for log in self.run_dir.glob("runs-*.log"):
            counts.update(int(line) for line in log.read_text().split())
        return counts


@pytest.fixture
def workers(tmp_path: Path, database_url: str) -> Iterator[Callable[[float], Workers]]:
    made: list[Workers] = []

    def make(lease_s: float) -> Workers:
        made.append(Workers(tmp_path, database_url, lease_s))
        return made[-1]

    yield make
    for group in made:
        group.stop()


def _effects(db: Database) -> list[AuditEvent]:
    with db.read_session() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == "probe.effect")))


def _job_states(db: Database) -> list[Job]:
    with db.read_session() as s:
        return list(s.scalars(select(Job).order_by(Job.id)))


def test_two_worker_processes_never_run_the_same_job(
    db: Database, workers: Callable[[float], Workers]
) -> None:
    group = workers(30.0)
    first, second = group.start(), group.start()
    now = SystemClock().now()
    with db.transaction() as s:
        ids = [queue.enqueue(s, "probe.record", {"sleep": 0.02}, now=now).id for _ in range(120)]
    wait_until(
        lambda: all(j.state is JobState.succeeded for j in _job_states(db)),
        120,
        "all jobs to succeed",
    )
    group.stop()

    runs = group.runs()
    assert sorted(runs) == sorted(ids)
    assert max(runs.values()) == 1, "a job was run by two workers"
    effects = _effects(db)
    assert sorted(int(e.object_id) for e in effects) == sorted(ids)
    per_process = Counter(e.details["pid"] for e in effects)
    assert set(per_process) == {first.pid, second.pid}, "both processes should take jobs"
    assert all(j.attempts == 1 for j in _job_states(db))


def test_job_of_a_sigkilled_worker_is_finished_once_by_another(
    db: Database, workers: Callable[[float], Workers]
) -> None:
    group = workers(1.5)
    procs = {p.pid: p for p in (group.start(), group.start())}
    with db.transaction() as s:
        job_id = queue.enqueue(s, "probe.stall_first", {}, now=SystemClock().now()).id
    marker = group.run_dir / f"started-{job_id}"
    wait_until(marker.exists, 30, "a worker to start the job")
    victim = int(marker.read_text())
    procs[victim].send_signal(signal.SIGKILL)
    procs[victim].wait(timeout=10)

    wait_until(
        lambda: _job_states(db)[0].state is JobState.succeeded,
        60,
        "the survivor to take over after the lease expires",
    )
    job = _job_states(db)[0]
    assert job.attempts == 2
    effects = _effects(db)
    assert len(effects) == 1, "the job's effect must be committed exactly once"
    survivor = next(pid for pid in procs if pid != victim)
    assert effects[0].details == {"pid": survivor, "attempt": 2}
    assert group.runs() == Counter({job_id: 1}), "the killed attempt never reached its effect"
