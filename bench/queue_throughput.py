"""Benchmark: durable job queue throughput on SQLite and PostgreSQL.

Prints, per backend: enqueue rate, and drain rate (claim + run a no-op handler + commit
its effect and completion) with 1 and 2 worker processes. The baseline, measured in the
same run on the same database, is the cheapest possible durable hand-off: one
``UPDATE ... WHERE id = ?`` committed per job by one process. The ratio says what the
lease, fencing and bookkeeping cost on top of the database's own commit cost.

    .venv/bin/python bench/queue_throughput.py [--jobs 2000] [--no-postgres]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core import migrate, queue  # noqa: E402
from core.clock import SystemClock  # noqa: E402
from core.db import Database  # noqa: E402
from core.models import AuditEvent  # noqa: E402
from core.queue import ClaimedJob  # noqa: E402
from core.settings import load_settings  # noqa: E402
from core.worker import Effect, Worker  # noqa: E402

PG_ADMIN = os.environ.get("DESBUMI_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
SECRET = "bench-secret-0123456789abcdefghijklmnopqrstuvwxyz"


def _settings(url: str, data_dir: str):  # type: ignore[no-untyped-def]
    return load_settings(
        {
            "DESBUMI_DATABASE__URL": url,
            "DESBUMI_DATA_DIR": data_dir,
            "DESBUMI_SECRET_KEY": SECRET,
            "DESBUMI_WORKER__POLL_INTERVAL_S": "0.01",
            "DESBUMI_WORKER__CONCURRENCY": "1",
        }
    )


def _drain(url: str, data_dir: str, counter, ready, go) -> None:  # type: ignore[no-untyped-def]
    settings = _settings(url, data_dir)
    db = Database.from_settings(settings)
    clock = SystemClock()

    def noop(job: ClaimedJob) -> Effect:
        def apply(session):  # type: ignore[no-untyped-def]
            session.add(AuditEvent(at=clock.now(), actor_kind="system", action="bench"))

        return apply

    worker = Worker(db, {"bench": noop}, settings.worker, clock)
    db.ping()
    ready.release()
    go.wait()
    idle = 0
    while idle < 20:
        if worker.run_once():
            idle = 0
            with counter.get_lock():
                counter.value += 1
        else:
            idle += 1
            time.sleep(0.01)
    db.dispose()


def _enqueue(db: Database, jobs: int) -> float:
    started = time.perf_counter()
    now = SystemClock().now()
    for batch in range(0, jobs, 100):
        with db.transaction() as session:
            for _ in range(min(100, jobs - batch)):
                queue.enqueue(session, "bench", {"n": 1}, now=now)
    return jobs / (time.perf_counter() - started)


def _baseline(db: Database, jobs: int) -> float:
    """One committed single-row UPDATE per job, one process: the database's floor."""
    with db.transaction() as session:
        ids = [row[0] for row in session.execute(text("SELECT id FROM jobs LIMIT :n"), {"n": jobs})]
    started = time.perf_counter()
    for job_id in ids:
        with db.transaction() as session:
            session.execute(
                text("UPDATE jobs SET priority = priority + 1 WHERE id = :id"), {"id": job_id}
            )
    return len(ids) / (time.perf_counter() - started)


def _reset(db: Database) -> None:
    with db.transaction() as session:
        session.execute(text("DELETE FROM audit_events"))
        session.execute(text("DELETE FROM jobs"))


def run_backend(name: str, url: str, data_dir: str, jobs: int) -> None:
    db = Database.from_settings(_settings(url, data_dir))
    migrate.upgrade(db)
    enqueue_rate = _enqueue(db, jobs)
    baseline = _baseline(db, jobs)
    _reset(db)
    print(f"{name}: enqueue {enqueue_rate:,.0f} jobs/s (batches of 100)")
    print(f"{name}: baseline, 1 committed UPDATE per job: {baseline:,.0f} jobs/s")
    ctx = multiprocessing.get_context("spawn")
    for workers in (1, 2):
        _enqueue(db, jobs)
        counter = ctx.Value("i", 0)
        ready, go = ctx.Semaphore(0), ctx.Event()
        procs = [
            ctx.Process(target=_drain, args=(url, data_dir, counter, ready, go))
            for _ in range(workers)
        ]
        for proc in procs:
            proc.start()
        for _ in procs:
            ready.acquire()
        started = time.perf_counter()
        go.set()
        while counter.value < jobs and any(p.is_alive() for p in procs):
            time.sleep(0.005)
        elapsed = time.perf_counter() - started
        for proc in procs:
            proc.join()
        rate = counter.value / elapsed
        print(
            f"{name}: drain with {workers} worker process(es): {rate:,.0f} jobs/s "
            f"({1000 / rate:.2f} ms/job; {rate / baseline:.2f}x baseline)"
        )
        _reset(db)
    db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    print(
        f"queue throughput, {args.jobs} jobs, {os.cpu_count()} cores, "
        f"threads alive={threading.active_count()}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        run_backend("sqlite", f"sqlite:///{tmp}/bench.db", tmp, args.jobs)
        if not args.no_postgres:
            name = f"desbumi_bench_{uuid.uuid4().hex[:8]}"
            admin_url = PG_ADMIN.replace("postgresql://", "postgresql+psycopg://", 1)
            admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            try:
                url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
                run_backend("postgresql", url, tmp, args.jobs)
            finally:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()


if __name__ == "__main__":
    main()
