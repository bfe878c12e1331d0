"""Takes a killed FastAGI server left behind (no Recording row, no spool file), stored by
the scheduler as incomplete reports of their calls, on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from core.db import Database
from core.models import Call, Case, Job, Recording
from core.security import PhoneVault
from core.settings import Settings
from core.states import CallOutcome
from ivr.pending import (
    TAKE_ORPHAN_AFTER,
    OrphanTakes,
    PendingReport,
    hints_path,
    keep_hints,
    relative_recordings,
    spool_report,
)
from ivr.store import HotlineStore
from tests.conftest import TEST_SECRET, FixedClock
from tests.ivr.fake_asterisk import wav

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _take(settings: Settings, name: str, seconds: float, written: datetime) -> Path:
    path = settings.data_dir / "recordings" / "2026" / "12" / name
    wav(path, seconds)
    os.utime(path, (written.timestamp(), written.timestamp()))
    return path


def test_orphaned_takes_become_incomplete_reports_of_their_calls(
    settings: Settings, db: Database
) -> None:
    store = HotlineStore(db, PhoneVault(TEST_SECRET), FixedClock(NOW), settings.data_dir)
    # A: the server died after her take; the dialplan's fallback then ended the call.
    ended = store.start_call("1700000000.1", "+628123450001")
    store.finish_call(ended.call_id, CallOutcome.fallback_voicemail, [], "ms")
    a1 = _take(settings, "1700000000.1-1.wav", 3.0, NOW - timedelta(minutes=2))
    # B: the call still shows in progress (killed with the server): wait an hour.
    live = store.start_call("1700000000.2", "+628123450002")
    b1 = _take(settings, "1700000000.2-1.wav", 2.0, NOW - timedelta(minutes=10))
    # C: she recorded again and the later take was stored; the earlier one was left.
    sent = store.start_call("1700000000.3", "+628123450003")
    c1 = _take(settings, "1700000000.3-1.wav", 1.0, NOW - timedelta(minutes=20))
    c2 = _take(settings, "1700000000.3-2.wav", 2.0, NOW - timedelta(minutes=19))
    store.submit_report(
        call_id=sent.call_id,
        caller_id=sent.caller_id,
        language="id",
        hints={"problem": "violence"},
        recordings=[c2],
        fmt="wav",
        partial=False,
    )
    store.finish_call(sent.call_id, CallOutcome.reported, [], "id")
    # D: the database refused its report: the spool has it, this task leaves it alone.
    spooled = store.start_call("1700000000.4", "+628123450004")
    d1 = _take(settings, "1700000000.4-1.wav", 2.0, NOW - timedelta(hours=2))
    spool_report(
        settings.data_dir,
        PendingReport(
            asterisk_id="1700000000.4",
            call_id=spooled.call_id,
            caller_id=spooled.caller_id,
            language="id",
            hints={},
            recordings=relative_recordings(settings.data_dir, [d1]),
            fmt="wav",
            partial=False,
            reported_at=NOW - timedelta(hours=2),
        ),
    )
    # A damaged spool file (JSON, but not an object) beside it holds up nothing.
    (settings.data_dir / "spool" / "reports" / "0-damaged.json").write_text("[]")
    # E: a take with no audio at all, of an ended call.
    quiet = store.start_call("1700000000.5", None)
    store.finish_call(quiet.call_id, CallOutcome.hung_up, [], "id")
    e1 = _take(settings, "1700000000.5-1.wav", 0.0, NOW - timedelta(minutes=5))

    sweep = OrphanTakes(settings)
    with db.transaction() as s:
        assert sweep.run(s, NOW) == 1  # A only
    assert not c1.exists() and c2.exists(), "the superseded take goes, the stored one stays"
    assert not e1.exists()
    assert a1.exists() and b1.exists() and d1.exists()
    with db.read_session() as s:
        case = s.scalars(select(Case).where(Case.call_id == ended.call_id)).one()
        assert case.incomplete is True and case.language == "ms"
        assert case.caller_id == ended.caller_id
        assert case.created_at.replace(tzinfo=UTC) == NOW - timedelta(minutes=2)
        recording = s.scalars(select(Recording).where(Recording.case_id == case.id)).one()
        assert recording.path == "recordings/2026/12/1700000000.1-1.wav"
        assert abs(recording.duration_s - 3.0) < 0.01
        assert s.scalars(select(Job).where(Job.unique_key == f"transcribe:{recording.id}")).one()
        assert s.scalars(select(Case).where(Case.call_id == live.call_id)).all() == []
        assert s.get(Call, ended.call_id).outcome is CallOutcome.reported  # type: ignore[union-attr]

    # An hour after B's take, with its call still "in progress", it is stored too; A is
    # not stored twice, D is still the spool's.
    later = NOW + TAKE_ORPHAN_AFTER
    with db.transaction() as s:
        assert sweep.run(s, later) == 1
    with db.transaction() as s:
        assert sweep.run(s, later) == 0
    with db.read_session() as s:
        calls = [c.call_id for c in s.scalars(select(Case).order_by(Case.id))]
        assert calls == [sent.call_id, ended.call_id, live.call_id]
        assert s.scalars(select(Case).where(Case.call_id == spooled.call_id)).all() == []


def test_an_orphaned_take_is_stored_with_the_hints_kept_beside_it(
    settings: Settings, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    store = HotlineStore(db, PhoneVault(TEST_SECRET), FixedClock(NOW), settings.data_dir)
    hints = {"country": "MY", "problem": "passport", "village": "3301"}
    # A: the server was killed while she recorded; her hints wait beside the take.
    kept = store.start_call("1700000000.1", "+628123450001")
    store.finish_call(kept.call_id, CallOutcome.fallback_voicemail, [], "id")
    a1 = _take(settings, "1700000000.1-1.wav", 3.0, NOW - timedelta(minutes=2))
    keep_hints(a1, hints)
    # B: the file beside its take is damaged: the take is stored all the same.
    damaged = store.start_call("1700000000.2", "+628123450002")
    store.finish_call(damaged.call_id, CallOutcome.hung_up, [], "id")
    b1 = _take(settings, "1700000000.2-1.wav", 2.0, NOW - timedelta(minutes=2))
    hints_path(b1).write_text('["not", "hints"]')
    # Hints whose take Asterisk never wrote: gone once settled; a fresh one waits.
    stale = hints_path(a1.with_name("1700000000.3-1.wav"))
    keep_hints(stale.with_name("1700000000.3-1.wav"), hints)
    os.utime(stale, ((NOW - timedelta(minutes=5)).timestamp(),) * 2)
    fresh = hints_path(a1.with_name("1700000000.4-1.wav"))
    keep_hints(fresh.with_name("1700000000.4-1.wav"), hints)
    os.utime(fresh, (NOW.timestamp(),) * 2)

    sweep = OrphanTakes(settings)
    with caplog.at_level(logging.WARNING, logger="ivr.pending"):
        with db.transaction() as s:
            assert sweep.run(s, NOW) == 2
    assert "1700000000.2-1.wav.hints.json is not keypad hints" in caplog.text
    assert hints["village"] not in caplog.text
    with db.read_session() as s:
        by_call = {c.call_id: c for c in s.scalars(select(Case))}
    assert by_call[kept.call_id].keypad_hints == hints
    assert by_call[kept.call_id].incomplete is True
    assert by_call[damaged.call_id].keypad_hints == {}
    assert not stale.exists() and fresh.exists()
    # Only once the case is committed does the next sweep let the hints go.
    assert hints_path(a1).exists()
    with db.transaction() as s:
        assert sweep.run(s, NOW + timedelta(minutes=1)) == 0
    assert not hints_path(a1).exists() and not hints_path(b1).exists()
    assert a1.exists() and b1.exists()
