"""A worker process survives its PostgreSQL server stopping and coming back.

The server is a private cluster made with initdb for this test, on its own port, so
stopping it is a real outage that disturbs nothing else.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text

from core import migrate, queue
from core.clock import SystemClock
from core.db import Database
from core.models import AuditEvent, Job
from core.states import JobState
from tests.conftest import wait_until
from tests.core.test_queue_processes import Workers

pytestmark = pytest.mark.slow


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.fail("PostgreSQL server binaries (initdb) are not installed")
    return Path(found[-1]).parent


class PrivateCluster:
    def __init__(self, root: Path) -> None:
        self.bin = _pg_bin()
        self.data = root / "data"
        self.log = root / "server.log"
        self.root = root
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]

    def _as_postgres(self, *args: str) -> None:
        command = [str(a) for a in args]
        if os.geteuid() == 0:  # initdb and postgres refuse to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def init(self) -> None:
        self._as_postgres(self.bin / "initdb", "-D", self.data, "-A", "trust", "-U", "postgres")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres(
            self.bin / "pg_ctl", "-D", self.data, "-l", self.log, "-o", options, "-w", "start"
        )

    def stop(self) -> None:
        self._as_postgres(self.bin / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"


@pytest.fixture
def cluster() -> Iterator[PrivateCluster]:
    root = Path(tempfile.mkdtemp(prefix="desbumi-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    made = PrivateCluster(root)
    made.init()
    made.start()
    try:
        yield made
    finally:
        try:
            made.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(root, ignore_errors=True)


def _enqueue(db: Database, count: int) -> list[int]:
    with db.transaction() as s:
        now = SystemClock().now()
        return [queue.enqueue(s, "probe.record", {}, now=now).id for _ in range(count)]


def _all_succeeded(db: Database) -> bool:
    try:
        with db.read_session() as s:
            return all(j.state is JobState.succeeded for j in s.scalars(select(Job)))
    except Exception:  # the server may still be coming back
        return False


def test_worker_rides_out_a_database_outage(cluster: PrivateCluster, tmp_path: Path) -> None:
    db = Database(create_engine(cluster.url, pool_pre_ping=True))
    migrate.upgrade(db)
    workers = Workers(tmp_path, cluster.url, lease_s=5.0)
    proc = workers.start()
    try:
        before = _enqueue(db, 5)
        wait_until(lambda: _all_succeeded(db), 30, "the first jobs")

        db.dispose()
        cluster.stop()
        time.sleep(1.5)  # the worker polls a dead server several times meanwhile
        assert proc.poll() is None, "the worker died with the database"
        cluster.start()

        after = _enqueue(db, 5)
        wait_until(lambda: _all_succeeded(db), 60, "the jobs enqueued after the outage")
        assert proc.poll() is None
        with db.read_session() as s:
            done = sorted(int(e.object_id) for e in s.scalars(select(AuditEvent)))
            assert s.execute(text("SELECT count(*) FROM jobs")).scalar() == 10
        assert done == sorted(before + after), "every job's effect exactly once"
    finally:
        workers.stop()
        db.dispose()
