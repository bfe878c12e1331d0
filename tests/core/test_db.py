"""The database layer on SQLite and PostgreSQL: migrations, pragmas, time, constraints."""

from __future__ import annotations

import traceback
from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError, OperationalError, StatementError

from core import migrate, queue
from core.clock import SystemClock
from core.db import Database, describe_url
from core.errors import DatabaseUnavailable
from core.models import Base, Case, District, Job, Village
from core.settings import Settings, WorkerSettings, load_settings
from core.states import CaseStatus, Urgency
from core.worker import Worker

WIB = timezone(timedelta(hours=7))


def test_migrated_schema_matches_the_models(db: Database) -> None:
    assert migrate.is_up_to_date(db)
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_upgrade_again_is_a_no_op_and_downgrade_round_trips(db: Database) -> None:
    with db.transaction() as s:
        s.add(District(code="5203", name="Lombok Timur", timezone="Asia/Makassar"))
    migrate.upgrade(db)
    with db.read_session() as s:
        assert s.query(District).count() == 1
    migrate.downgrade(db, "base")
    assert "districts" not in inspect(db.engine).get_table_names()
    migrate.upgrade(db)
    assert migrate.is_up_to_date(db)


def test_times_are_stored_as_utc_and_come_back_aware(db: Database) -> None:
    local = datetime(2026, 11, 22, 19, 30, tzinfo=WIB)
    with db.transaction() as s:
        s.add(Case(reference="R1", created_at=local, updated_at=local))
    with db.read_session() as s:
        case = s.query(Case).one()
    assert case.created_at == local
    assert case.created_at.tzinfo is not None
    assert case.created_at.utcoffset() == timedelta(0)
    assert case.created_at.hour == 12


def test_naive_datetimes_are_refused(db: Database) -> None:
    with pytest.raises(StatementError, match="naive datetime"), db.transaction() as s:
        s.add(Case(reference="R2", created_at=datetime(2026, 1, 1), updated_at=datetime.now(UTC)))
        s.flush()


def test_foreign_keys_are_enforced(db: Database) -> None:
    with pytest.raises(IntegrityError), db.transaction() as s:
        s.add(Village(code="1", name="Nowhere", district_id=999, timezone="Asia/Jakarta"))
        s.flush()


def test_enum_columns_round_trip(db: Database) -> None:
    now = datetime.now(UTC)
    with db.transaction() as s:
        case = Case(reference="R3", created_at=now, updated_at=now)
        case.set_urgency(Urgency.critical, ["physical violence"])
        s.add(case)
    with db.read_session() as s:
        stored = s.query(Case).one()
    assert stored.status is CaseStatus.new
    assert (stored.urgency, stored.urgency_rank) == (Urgency.critical, 3)
    assert stored.urgency_reasons == ["physical violence"]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_sqlite_pragmas(db: Database, settings: Settings) -> None:
    with db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == (
            settings.database.busy_timeout_ms
        )


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_sqlite_writers_take_the_lock_up_front(db: Database) -> None:
    """Write transactions BEGIN IMMEDIATE; read sessions do not block a writer."""
    with db.read_session() as reader, reader.begin():
        reader.query(Job).count()
        with db.transaction() as writer:
            writer.add(District(code="1", name="x", timezone="Asia/Jakarta"))
    with db.transaction() as first:
        first.add(District(code="2", name="y", timezone="Asia/Jakarta"))
        first.flush()  # this transaction now holds SQLite's write lock
        other = Database.from_settings(
            load_settings(
                {
                    "DESBUMI_DATABASE__URL": str(db.engine.url),
                    "DESBUMI_DATABASE__BUSY_TIMEOUT_MS": "50",
                }
            )
        )
        try:
            # BEGIN IMMEDIATE waits for the lock at the start, not at the first write.
            with pytest.raises(OperationalError, match="locked"), other.transaction() as second:
                second.execute(text("SELECT 1"))
            with other.read_session() as reader, reader.begin():
                assert reader.execute(text("SELECT 1")).scalar() == 1
        finally:
            other.dispose()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_postgresql_writers_give_up_after_the_busy_timeout(db: Database) -> None:
    """A writer that waits on another transaction's lock fails, it does not hang."""
    other = Database.from_settings(
        load_settings(
            {
                "DESBUMI_DATABASE__URL": str(db.engine.url.render_as_string(False)),
                "DESBUMI_DATABASE__BUSY_TIMEOUT_MS": "200",
            }
        )
    )
    try:
        with db.transaction() as holder:
            holder.execute(text("LOCK TABLE districts IN ACCESS EXCLUSIVE MODE"))
            with (
                pytest.raises(OperationalError, match="lock timeout"),
                other.transaction() as waiter,
            ):
                waiter.add(District(code="9", name="z", timezone="Asia/Jakarta"))
                waiter.flush()
        # Once the lock is gone the same writer succeeds.
        with other.transaction() as waiter:
            waiter.add(District(code="9", name="z", timezone="Asia/Jakarta"))
    finally:
        other.dispose()


def test_unreachable_database_gives_one_line() -> None:
    settings = load_settings({"DESBUMI_DATABASE__URL": "postgresql://nobody:pw@127.0.0.1:1/none"})
    db = Database.from_settings(settings)
    with pytest.raises(DatabaseUnavailable) as raised:
        db.ping()
    message = str(raised.value)
    assert message.startswith("DESBUMI_DATABASE__URL: cannot connect to")
    assert "pw" not in message and "\n" not in message


@pytest.mark.parametrize("url", ["nonsense", "mysql://x@y/z"])
def test_unusable_urls(url: str) -> None:
    with pytest.raises(DatabaseUnavailable, match="DESBUMI_DATABASE__URL"):
        Database.from_settings(load_settings({"DESBUMI_DATABASE__URL": url}))


def test_describe_url_hides_password() -> None:
    assert describe_url("postgresql://u:secret@h/db") == "postgresql://u:***@h/db"


SECRET_WORDS = "majikan memukul saya di Johor"  # what a caller said: never in an error


def _failed_insert(db: Database) -> StatementError:
    """A transcript whose NOT NULL column is missing: PostgreSQL's DETAIL quotes the row."""
    with pytest.raises(IntegrityError) as raised, db.transaction() as s:
        s.execute(
            text(
                "INSERT INTO transcripts (recording_id, engine, language, text, words, created_at)"
                " VALUES (NULL, 'vosk', 'id', :text, '[]', :at)"
            ),
            {"text": SECRET_WORDS, "at": datetime.now(UTC)},
        )
    return raised.value


def test_database_errors_carry_no_values(db: Database) -> None:
    error = _failed_insert(db)
    shown = "".join(traceback.format_exception(error))
    assert "transcripts" in shown  # still says what failed
    assert SECRET_WORDS not in shown
    assert SECRET_WORDS not in str(error.orig)
    assert "Failing row" not in shown


def test_a_failing_job_keeps_no_values_in_its_error_or_the_log(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    clock = SystemClock()
    with db.transaction() as s:
        job_id = queue.enqueue(s, "k", {}, now=clock.now()).id

    def raising(job: object) -> None:
        raise _failed_insert(db)

    worker = Worker(db, {"k": raising}, WorkerSettings(poll_interval_s=0.01), clock, owner="t")
    with caplog.at_level("DEBUG"):
        assert worker.run_once() is True
    with db.read_session() as s:
        job = s.get(Job, job_id)
        assert job is not None and job.last_error
    assert "IntegrityError" in job.last_error
    assert SECRET_WORDS not in job.last_error
    assert SECRET_WORDS not in caplog.text
    assert "failed" in caplog.text
