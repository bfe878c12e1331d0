"""The hotline's transactions, without a call: what the engine relies on from the store."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime

from sqlalchemy import func, select

from core.db import Database
from core.models import Case, Job, Recording
from core.security import PhoneVault
from core.settings import Settings
from ivr.store import HotlineStore
from tests.conftest import TEST_SECRET


class FixedClock:
    def now(self) -> datetime:
        return datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_a_report_asked_for_twice_is_stored_once(settings: Settings, db: Database) -> None:
    """The helper process may die between its commit and its answer; the engine asks again."""
    store = HotlineStore(db, PhoneVault(TEST_SECRET), FixedClock(), settings.data_dir)
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
