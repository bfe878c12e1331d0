"""A report whose transaction fails while the caller is on the line is spooled, and stored
later: on SQLite (the write lock held past the busy timeout) and PostgreSQL (the database
stops accepting connections, its sessions are ended).

The caller's side of the socket is played by the test (fake_asterisk.py); the engine, its
database helper process, the spool and the database are the real thing.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from core.db import Database
from core.models import Call, Case, Job, Recording
from core.settings import Settings
from core.states import CallOutcome
from ivr.pending import SPOOL_DIR, PendingReport, PendingReports, spool_report
from ivr.service import Hotline
from tests.conftest import PG_ADMIN_URL, make_settings
from tests.ivr.fake_asterisk import REPORT_KEYS, FakeAsterisk, Reply, run_call, wav

CALLER = "+62812555000"  # the fake's caller id, before the call's digit


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    # A writer gives up after 200 ms (SQLite's busy timeout, PostgreSQL's lock_timeout).
    return make_settings(tmp_path, database_url, DESBUMI_DATABASE__BUSY_TIMEOUT_MS="200")


class Outage:
    """The database refusing the report's transaction, from ``start()`` to ``stop()``."""

    def __init__(self, settings: Settings) -> None:
        url = make_url(settings.database.url)
        self.url = url if url.get_backend_name() == "postgresql" else None
        self.sqlite_path = Path(url.database or "")
        self._lock: sqlite3.Connection | None = None

    def start(self) -> None:
        if self.url is None:
            # Another process's writer holds SQLite's write lock.
            self._lock = sqlite3.connect(self.sqlite_path, isolation_level=None)
            self._lock.execute("BEGIN IMMEDIATE")
            return
        self._admin(
            f'ALTER DATABASE "{self.url.database}" ALLOW_CONNECTIONS false',
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{self.url.database}' AND pid <> pg_backend_pid()",
        )

    def stop(self) -> None:
        if self._lock is not None:
            self._lock.rollback()
            self._lock.close()
            self._lock = None
        elif self.url is not None:
            self._admin(f'ALTER DATABASE "{self.url.database}" ALLOW_CONNECTIONS true')

    def _admin(self, *statements: str) -> None:
        admin = create_engine(
            PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://", 1),
            isolation_level="AUTOCOMMIT",
        )
        try:
            with admin.connect() as conn:
                for statement in statements:
                    conn.execute(text(statement))
        finally:
            admin.dispose()


@pytest.fixture
def outage(settings: Settings, db: Database) -> Iterator[Outage]:
    fault = Outage(settings)
    try:
        yield fault
    finally:
        fault.stop()


def _report_during_outage(
    hotline: Hotline, outage: Outage, keys: dict[str, list[str]]
) -> FakeAsterisk:
    """One call: the database fails once she has recorded (the Call row is stored)."""

    def on_record(path: Path, attempt: int) -> Reply:
        wav(path, 2.0)
        outage.start()
        return "200 result=35 (dtmf) endpos=16000"

    peer = FakeAsterisk(keys, on_record)
    run_call(hotline, peer, timeout_s=10.0)
    return peer


def _spooled(settings: Settings) -> list[Path]:
    return sorted((settings.data_dir / SPOOL_DIR).glob("*.json"))


@contextmanager
def _sweep(db: Database, when: datetime, sweep: PendingReports) -> Iterator[int]:
    with db.transaction() as session:
        yield sweep.run(session, when)


def test_a_report_the_database_refuses_is_spooled_then_stored_once_it_is_back(
    hotline: Hotline, outage: Outage, settings: Settings, db: Database
) -> None:
    peer = _report_during_outage(hotline, outage, REPORT_KEYS)
    # She is not left in silence and not told to call again: her report is kept.
    start = peer.played.index("record-confirm") + 1
    assert peer.played[start : start + 2] == ["report-reference", "report-kept"]
    assert not any(p.startswith("digit-") for p in peer.played[start:])
    assert hotline.engine.stats.spooled_reports == 1
    # The call's end could not be stored either: counted, and the call ended normally.
    assert hotline.engine.stats.errors == {"report": 1, "call-end": 1}
    (spooled,) = _spooled(settings)
    assert stat.S_IMODE(spooled.stat().st_mode) == 0o600
    raw = spooled.read_text()
    assert CALLER not in raw and "+62" not in raw  # row ids only, never her number
    recorded = json.loads(raw)["recordings"]
    assert len(recorded) == 1 and (settings.data_dir / recorded[0]).is_file()

    # The database is back; the scheduler's task stores it, a day later.
    outage.stop()
    with db.read_session() as s:
        assert s.scalars(select(Case)).all() == []
        reported_at = s.scalars(select(Call)).one().started_at
    sweep = PendingReports(settings)
    later = datetime.now(UTC) + timedelta(days=1)
    with _sweep(db, later, sweep) as stored:
        assert stored == 1
    with db.read_session() as s:
        case = s.scalars(select(Case)).one()
        # Dated when she reported, not when the database came back.
        assert abs(case.created_at.replace(tzinfo=None) - reported_at.replace(tzinfo=None)) < (
            timedelta(seconds=30)
        )
        assert case.incomplete is False
        assert case.keypad_hints == {"problem": "unpaid_wages", "country": "SA"}
        recording = s.scalars(select(Recording)).one()
        assert recording.case_id == case.id and recording.path == recorded[0]
        assert abs(recording.duration_s - 2.0) < 0.1
        job = s.scalars(select(Job)).one()
        assert job.payload == {"recording_id": recording.id, "language": "id"}
        assert s.scalars(select(Call)).one().outcome is CallOutcome.reported
    # The spool file goes only once that commit is visible: at the next sweep.
    assert _spooled(settings) == [spooled]
    with _sweep(db, later, sweep) as stored:
        assert stored == 0
    assert _spooled(settings) == []
    with db.read_session() as s:
        assert len(s.scalars(select(Case)).all()) == 1


def test_a_sweep_that_dies_before_its_commit_loses_nothing_and_one_after_it_stores_once(
    hotline: Hotline, outage: Outage, settings: Settings, db: Database
) -> None:
    _report_during_outage(hotline, outage, REPORT_KEYS)
    outage.stop()
    sweep = PendingReports(settings)
    now = datetime.now(UTC)

    class Died(Exception):
        pass

    # Stored, then the transaction never commits (the scheduler died).
    with pytest.raises(Died), _sweep(db, now, sweep) as stored:
        assert stored == 1
        raise Died
    with db.read_session() as s:
        assert s.scalars(select(Case)).all() == []
    assert len(_spooled(settings)) == 1
    # The restarted scheduler stores it; a second one (its spool file not yet deleted
    # when the first died) finds it stored and only removes the file.
    for _ in range(2):
        with _sweep(db, now, PendingReports(settings)):
            pass
    assert _spooled(settings) == []
    with db.read_session() as s:
        assert len(s.scalars(select(Case)).all()) == 1
        assert len(s.scalars(select(Job)).all()) == 1


def test_a_report_without_recording_is_spooled_and_stored_once(
    hotline: Hotline, outage: Outage, settings: Settings, db: Database
) -> None:
    # Nothing was said twice: the engine stores the keypad hints as an incomplete report.
    def on_record(path: Path, attempt: int) -> Reply:
        if attempt == 3:  # the last attempt: the report is stored without audio
            outage.start()
        return "200 result=0 (timeout) endpos=0"

    run_call(hotline, FakeAsterisk(REPORT_KEYS, on_record), timeout_s=10.0)
    assert len(_spooled(settings)) == 1
    outage.stop()
    for _ in range(3):
        with _sweep(db, datetime.now(UTC), PendingReports(settings)):
            pass
    assert _spooled(settings) == []
    with db.read_session() as s:
        case = s.scalars(select(Case)).one()
        assert case.incomplete is True
        assert case.keypad_hints == {"problem": "unpaid_wages", "country": "SA"}
        assert s.scalars(select(Recording)).all() == []


def test_a_spool_file_that_cannot_be_stored_is_kept_logged_once_and_holds_up_no_other(
    hotline: Hotline,
    outage: Outage,
    settings: Settings,
    db: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _report_during_outage(hotline, outage, REPORT_KEYS)
    outage.stop()
    folder = settings.data_dir / SPOOL_DIR
    (folder / "0-garbage.json").write_bytes(b"\x00not json")
    (folder / "1-future.json").write_text(json.dumps({"version": 2}))
    # Every field there, one of the wrong type (a hand-edited or damaged file).
    damaged = json.loads(_spooled(settings)[-1].read_text()) | {"hints": ["not", "a", "map"]}
    (folder / "2-damaged.json").write_text(json.dumps(damaged))
    # A report for a call the database does not know (e.g. restored from another site).
    good = PendingReport.from_json(_spooled(settings)[-1].read_bytes())
    orphan = spool_report(
        settings.data_dir,
        PendingReport(**{**good.__dict__, "call_id": 999_999, "recordings": []}),
    )
    caplog.set_level(logging.INFO, logger="ivr.pending")
    sweep = PendingReports(settings)
    for _ in range(3):
        with _sweep(db, datetime.now(UTC), sweep):
            pass
    with db.read_session() as s:
        assert len(s.scalars(select(Case)).all()) == 1
    left = {p.name for p in _spooled(settings)}
    assert left == {"0-garbage.json", "1-future.json", "2-damaged.json", orphan.name}
    assert sweep.failures.count == 12
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name == "ivr.pending"
    ]
    assert len(warnings) == 4, warnings
    assert all("not stored" in w and "kept" in w for w in warnings)


def test_quick_exit_after_a_spooled_report_does_not_store_it_twice(
    hotline: Hotline, outage: Outage, settings: Settings, db: Database
) -> None:
    peer = _report_during_outage(hotline, outage, {**REPORT_KEYS, "report-kept": ["9"]})
    # Overheard while hearing that her report is kept: the spooled report is all there is.
    assert peer.played[-2:] == ["report-kept", "quick-exit"]
    assert len(_spooled(settings)) == 1
    assert hotline.engine.stats.spooled_reports == 1


def test_a_call_that_finds_the_database_down_is_left_to_the_dialplan_unanswered(
    hotline: Hotline, outage: Outage, caplog: pytest.LogCaptureFixture
) -> None:
    outage.start()
    peer = FakeAsterisk(REPORT_KEYS, lambda path, attempt: None)
    run_call(hotline, peer, timeout_s=10.0)
    # Not answered, nothing played: the server lets go and the dialplan's fallback answers,
    # apologises and takes a voicemail (tests/ivr/test_hotline_calls.py).
    assert peer.commands == []
    assert hotline.engine.stats.errors == {"call-start": 1}
    assert "the dialplan's fallback takes the call" in caplog.text
    assert "Traceback" not in caplog.text and "812555" not in caplog.text


def test_a_missed_call_that_finds_the_database_down_is_left_to_the_dialplan(
    hotline: Hotline, outage: Outage, caplog: pytest.LogCaptureFixture
) -> None:
    outage.start()
    peer = FakeAsterisk({}, lambda path, attempt: None, script="missed")
    run_call(hotline, peer, timeout_s=10.0)
    # Never answered, and DESBUMI_MISSED not set: the dialplan writes the number down for
    # the sweep and rejects the call (tests/ivr/test_hotline_calls.py).
    assert peer.commands == []
    assert hotline.engine.stats.errors == {"missed-call": 1}
    assert "missed call not stored (OperationalError)" in caplog.text
    assert "Traceback" not in caplog.text and "812555" not in caplog.text
