"""``desbumi models add``: checks, installs, and releases the reports that waited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, select

from core import queue
from core.db import Database
from core.models import Job, Recording
from core.recordings import enqueue_transcription
from core.states import JobState, TranscriptionStatus
from tests.desbumi.conftest import Run
from transcription.service import KIND

MODEL = Path(__file__).resolve().parent.parent / "data" / "vosk-test-model"


def _waiting_report(tmp_path: Path) -> Database:
    """A recording whose transcription job is held for want of an 'id' model."""
    db = Database(create_engine(f"sqlite:///{tmp_path / 'var' / 'desbumi.db'}"))
    now = datetime.now(UTC)
    with db.transaction() as s:
        recording = Recording(
            path="recordings/x.wav",
            format="wav",
            sha256="0" * 64,
            transcription=TranscriptionStatus.awaiting_model,
            created_at=now,
        )
        s.add(recording)
        s.flush()
        enqueue_transcription(s, recording, now=now)
    with db.transaction() as s:
        claimed = queue.claim(s, [KIND], owner="t", now=now, lease=timedelta(seconds=30))
        assert claimed is not None
        queue.hold(s, claimed, "awaiting_model", now=now)
    return db


def test_add_installs_and_releases(desbumi: Run, tmp_path: Path) -> None:
    assert desbumi("init").code == 0
    db = _waiting_report(tmp_path)
    result = desbumi("models", "add", "id", str(MODEL))
    assert result.code == 0, result.err
    assert "1 waiting report(s) queued" in result.out
    assert (tmp_path / "var" / "models" / "id" / "am" / "final.mdl").is_file()
    with db.read_session() as s:
        assert s.scalar(select(Job.state)) is JobState.queued
        assert s.scalar(select(Recording.transcription)) is TranscriptionStatus.pending
    db.dispose()
    checked = desbumi("check")
    assert "ok    vosk model [id]" in checked.out

    again = desbumi("models", "add", "id", str(MODEL))
    assert again.code == 2 and "--replace" in again.err
    assert desbumi("models", "add", "id", str(MODEL), "--replace").code == 0


def test_unusable_model_is_refused(desbumi: Run, tmp_path: Path) -> None:
    assert desbumi("init").code == 0
    result = desbumi("models", "add", "id", str(tmp_path))
    assert result.code == 2
    assert "model not usable" in result.err and "not a Vosk model" in result.err
    assert not (tmp_path / "var" / "models" / "id").exists()
