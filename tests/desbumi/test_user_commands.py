"""``desbumi user`` and ``desbumi jobs``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from core.db import Database
from core.models import AuditEvent, User
from core.security import verify_password
from tests.desbumi.conftest import Run


def _password(output: str) -> str:
    match = re.search(r"password(?: for \w+)?: (\S+)$", output, re.MULTILINE)
    assert match, output
    return match[1]


def _stored_hash(tmp_path: Path, username: str) -> str:
    db = Database(create_engine(f"sqlite:///{tmp_path / 'var' / 'desbumi.db'}"))
    with db.read_session() as s:
        value = s.scalar(select(User.password_hash).where(User.username == username))
        actions = list(s.scalars(select(AuditEvent.action).where(AuditEvent.object_id == username)))
    db.dispose()
    assert value is not None
    assert "user.create" in actions
    return value


@pytest.fixture
def demo(desbumi: Run) -> Run:
    assert desbumi("init", "--demo").code == 0
    return desbumi


def test_add_list_and_reset(demo: Run, tmp_path: Path) -> None:
    added = demo(
        "user",
        "add",
        "maria",
        "--role",
        "case_worker",
        "--district",
        "5203",
        "--district",
        "5202",
        "--full-name",
        "Maria Ulfa",
    )
    assert added.code == 0, added.err
    first = _password(added.out)
    assert verify_password(_stored_hash(tmp_path, "maria"), first)

    listed = demo("user", "list")
    assert re.search(
        r"^maria\s+case_worker\s+active\s+districts=520[23],520[23]$", listed.out, re.MULTILINE
    ), listed.out
    assert re.search(r"^admin\s+admin\s", listed.out, re.MULTILINE)

    reset = demo("user", "set-password", "maria")
    assert reset.code == 0
    second = _password(reset.out)
    stored = _stored_hash(tmp_path, "maria")
    assert verify_password(stored, second) and not verify_password(stored, first)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("user", "add", "admin", "--role", "editor"), "exists already"),
        (("user", "add", "sri", "--role", "editor", "--district", "9999"), "no district"),
        (("user", "set-password", "nobody"), "no user 'nobody'"),
        (("jobs", "retry", "999"), "no job 999"),
    ],
)
def test_refusals(demo: Run, args: tuple[str, ...], message: str) -> None:
    result = demo(*args)
    assert result.code == 2
    assert message in result.err
    assert "Traceback" not in result.err


def test_bad_role_is_a_usage_error(demo: Run) -> None:
    result = demo("user", "add", "sri", "--role", "boss")
    assert result.code == 2
    assert "case_worker" in result.err


def test_jobs_on_an_empty_queue(demo: Run) -> None:
    result = demo("jobs")
    assert (result.code, result.out.strip()) == (0, "no jobs")


def test_jobs_shows_dead_and_held_jobs_and_retries(demo: Run, tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from core import queue

    db = Database(create_engine(f"sqlite:///{tmp_path / 'var' / 'desbumi.db'}"))
    now = datetime.now(UTC)
    lease = timedelta(seconds=30)
    with db.transaction() as s:
        queue.enqueue(s, "transcribe", {}, now=now)
        queue.enqueue(s, "transcribe", {}, now=now)
    with db.transaction() as s:
        dead = queue.claim(s, ["transcribe"], owner="t", now=now, lease=lease)
        held = queue.claim(s, ["transcribe"], owner="t", now=now, lease=lease)
        assert dead is not None and held is not None
        queue.fail(s, dead, "recording unreadable: x.wav: Invalid data", now=now, retry_in=None)
        queue.hold(s, held, "awaiting_model: no model directory", now=now)
    db.dispose()

    listed = demo("jobs")
    assert re.search(r"^transcribe\s+dead=1  held=1$", listed.out, re.MULTILINE), listed.out
    assert re.search(
        rf"^\s+{dead.id}\s+transcribe\s+dead\s+attempts=1\s+recording unreadable",
        listed.out,
        re.MULTILINE,
    ), listed.out
    assert "awaiting_model: no model directory" in listed.out

    retried = demo("jobs", "retry", str(dead.id))
    assert retried.code == 0 and f"job {dead.id} queued again" in retried.out
    assert re.search(r"^transcribe\s+held=1  queued=1$", demo("jobs").out, re.MULTILINE)
