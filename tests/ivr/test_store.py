"""The hotline's transactions, without a call: what the engine relies on from the store."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from core.db import Database
from core.models import Call, Case, Job, Recording
from core.security import PhoneVault
from core.settings import Settings
from core.states import CallOutcome
from ivr.app import hotline_tasks
from ivr.store import STALE_CALL_AFTER, HotlineStore, close_stale_calls
from tests.conftest import TEST_SECRET, FixedClock

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_a_report_asked_for_twice_is_stored_once(settings: Settings, db: Database) -> None:
    """The helper process may die between its commit and its answer; the engine asks again."""
    store = HotlineStore(db, PhoneVault(TEST_SECRET), FixedClock(NOW), settings.data_dir)
    call = store.start_call("1700000000.1", "+628123450001")
    folder = settings.data_dir / "recordings"
    folder.mkdir(parents=True)
    paths = [folder / "r1.wav", folder / "r2.wav"]
    for path in paths:
        subprocess.run(
            [
                "sox",
                "-n",
                "-r",
                "8000",
                "-c",
                "1",
                "-b",
                "16",
                str(path),
                "synth",
                "1",
                "sine",
                "440",
            ],
            check=True,
        )
    report = {
        "call_id": call.call_id,
        "caller_id": call.caller_id,
        "language": "id",
        "hints": {"problem": "violence"},
        "recordings": paths,
        "fmt": "wav",
        "partial": False,
    }
    first = store.submit_report(**report)  # type: ignore[arg-type]
    again = store.submit_report(**report)  # type: ignore[arg-type]
    store.close()
    assert again == first
    assert len(first.recording_ids) == 2
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(Case)) == 1
        assert s.scalar(select(func.count()).select_from(Recording)) == 2
        assert s.scalar(select(func.count()).select_from(Job)) == 2


def test_calls_that_lost_their_end_are_marked_failed_after_hours(
    settings: Settings, db: Database
) -> None:
    store = HotlineStore(db, PhoneVault(TEST_SECRET), FixedClock(NOW), settings.data_dir)
    lost = store.start_call("1700000000.1", "+628123450001")  # the server was killed
    reported = store.start_call("1700000000.2", "+628123450002")
    store.submit_report(
        call_id=reported.call_id,
        caller_id=reported.caller_id,
        language="id",
        hints={},
        recordings=[],
        fmt="wav",
        partial=True,
    )
    ended = store.start_call("1700000000.3", None)
    store.finish_call(ended.call_id, CallOutcome.hung_up, [], "id")
    start = FixedClock(NOW).now()
    with db.transaction() as s:
        # A call may last long (a counsellor's): within the hours nothing changes.
        assert close_stale_calls(s, start + STALE_CALL_AFTER - timedelta(minutes=1)) == 0
    with db.transaction() as s:
        assert close_stale_calls(s, start + STALE_CALL_AFTER + timedelta(minutes=1)) == 1
    with db.read_session() as s:
        outcomes = {c.id: c.outcome for c in s.scalars(select(Call))}
        assert outcomes == {
            lost.call_id: CallOutcome.failed,
            reported.call_id: CallOutcome.reported,
            ended.call_id: CallOutcome.hung_up,
        }
        assert s.get(Call, lost.call_id).ended_at is None  # type: ignore[union-attr]


def test_the_scheduler_stores_spooled_reports_and_closes_stale_calls(settings: Settings) -> None:
    names = [task.name for task in hotline_tasks(settings, None)]
    assert {
        "hotline.voicemail",
        "hotline.pending",
        "hotline.orphan_takes",
        "hotline.stale_calls",
    } <= set(names)
