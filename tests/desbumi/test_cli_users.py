"""``desbumi user`` and ``desbumi jobs``."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from core import queue
from core.db import Database
from core.models import AuditEvent, User
from core.security import verify_password
from tests.access import give_access, live_access
from tests.desbumi.conftest import Run


def _password(output: str) -> str:
    found = re.findall(r"password(?: for \w+)?: (\S+)$", output, re.MULTILINE)
    assert len(found) == 1, output
    return str(found[0])


def _stored_hash(database: Database, username: str) -> str:
    with database.read_session() as s, s.begin():
        value = s.scalar(select(User.password_hash).where(User.username == username))
    assert value is not None
    return value


@pytest.fixture
def demo(desbumi: Run) -> Run:
    result = desbumi("init", "--demo")
    assert result.code == 0, result.err
    return desbumi


def test_add_list_and_set_password(demo: Run, database: Database) -> None:
    added = demo("user", "add", "maria", "--role", "case_worker", "--district", "5203")
    assert added.code == 0, added.err
    assert "user maria (case_worker) added" in added.out
    first = _password(added.out)
    assert verify_password(_stored_hash(database, "maria"), first)
    with database.read_session() as s, s.begin():
        actions = set(s.scalars(select(AuditEvent.action).where(AuditEvent.object_id == "maria")))
    assert "user.create" in actions

    listed = demo("user", "list")
    assert listed.code == 0, listed.err
    assert re.search(r"^maria\s+case_worker\s+active\s+districts=5203$", listed.out, re.MULTILINE)
    assert re.search(r"^admin\s+admin\s+active\s+districts=-$", listed.out, re.MULTILINE)

    # She is logged in with the old password, in a browser and with a token; so is the admin.
    now = datetime.now(UTC)
    for username in ("maria", "admin"):
        give_access(database, username, now)

    reset = demo("user", "set-password", "maria")
    assert reset.code == 0, reset.err
    second = _password(reset.out)
    assert second != first
    stored = _stored_hash(database, "maria")
    assert verify_password(stored, second)
    assert not verify_password(stored, first)
    # Whoever had the old password is logged out everywhere; nobody else is.
    assert live_access(database) == {"sessions": ["session-admin"], "tokens": ["token-admin"]}


def test_several_districts_and_a_full_name(demo: Run, database: Database) -> None:
    added = demo(
        "user",
        "add",
        "sri",
        "--role",
        "case_worker",
        "--district",
        "5203",
        "--district",
        "5202",
        "--full-name",
        "Sri Wahyuni",
    )
    assert added.code == 0, added.err
    listed = demo("user", "list").out
    match = re.search(r"^sri\s+case_worker\s+active\s+districts=(\S+)$", listed, re.MULTILINE)
    assert match and sorted(match[1].split(",")) == ["5202", "5203"], listed
    with database.read_session() as s, s.begin():
        assert s.scalar(select(User.full_name).where(User.username == "sri")) == "Sri Wahyuni"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("user", "add", "admin", "--role", "editor"), "exists already"),
        (("user", "add", "sri", "--role", "case_worker", "--district", "9999"), "9999"),
        (("user", "set-password", "nobody"), "no user 'nobody'"),
        (("jobs", "retry", "999"), "no job 999"),
    ],
)
def test_refusals(demo: Run, args: tuple[str, ...], message: str) -> None:
    result = demo(*args)
    assert result.code == 2, (result.out, result.err)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("desbumi: error: "), result.err
    assert message in lines[0]
    assert "password" not in result.out


def test_a_duplicate_keeps_the_first_password(demo: Run, database: Database) -> None:
    added = demo("user", "add", "maria", "--role", "editor")
    password = _password(added.out)
    assert demo("user", "add", "maria", "--role", "admin").code == 2
    assert verify_password(_stored_hash(database, "maria"), password)
    assert re.search(r"^maria\s+editor\s", demo("user", "list").out, re.MULTILINE)


def test_an_unknown_district_adds_nobody(demo: Run) -> None:
    assert demo("user", "add", "sri", "--role", "case_worker", "--district", "9999").code == 2
    assert "sri" not in demo("user", "list").out


def test_bad_role_is_a_usage_error(demo: Run) -> None:
    result = demo("user", "add", "sri", "--role", "boss")
    assert result.code == 2
    assert "case_worker" in result.err
    assert "Traceback" not in result.err


def test_jobs_on_an_empty_queue(demo: Run) -> None:
    result = demo("jobs")
    assert (result.code, result.out.strip()) == (0, "no jobs")


def test_jobs_shows_dead_and_held_jobs_and_retries(demo: Run, database: Database) -> None:
    now = datetime.now(UTC)
    lease = timedelta(seconds=30)
    with database.transaction() as s:
        queue.enqueue(s, "transcribe", {}, now=now)
        queue.enqueue(s, "transcribe", {}, now=now)
    with database.transaction() as s:
        dead = queue.claim(s, ["transcribe"], owner="t", now=now, lease=lease)
        held = queue.claim(s, ["transcribe"], owner="t", now=now, lease=lease)
        assert dead is not None and held is not None
        queue.fail(s, dead, "recording unreadable: x.wav: Invalid data", now=now, retry_in=None)
        queue.hold(s, held, "awaiting_model: no model directory", now=now)

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
    again = demo("jobs", "retry", str(held.id))
    assert again.code == 2, "only a dead job can be retried"
