"""The retention period on SQLite and PostgreSQL: personal content goes, statistics stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from core.db import Database
from core.models import AuditEvent, Case, CaseNote, FollowUp, Recording, Referral, Transcript
from core.retention import months_before, purge_closed_cases, retention_task
from core.settings import Settings
from core.states import CaseStatus, ReferralKind
from tests.conftest import make_settings

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


def _case(db: Database, settings: Settings, reference: str, closed_days_ago: int | None) -> int:
    path = settings.data_dir / "recordings" / f"{reference}.wav"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF0000WAVE")
    cache = settings.data_dir / "cache" / "playback"
    with db.transaction() as s:
        case = Case(
            reference=reference,
            indicators=[{"indicator": "physical_violence", "phrase": "dipukul", "start": 1.0}],
            urgency_reasons=["physical violence: 'dipukul' at 1.0 s"],
            created_at=NOW - timedelta(days=900),
            updated_at=NOW,
        )
        s.add(case)
        s.flush()
        if closed_days_ago is not None:
            case.move_to(CaseStatus.closed, NOW - timedelta(days=closed_days_ago), "safe home")
        recording = Recording(
            case_id=case.id,
            path=f"recordings/{reference}.wav",
            format="wav",
            sha256="0" * 64,
            created_at=NOW,
        )
        s.add(recording)
        s.flush()
        cache.mkdir(parents=True, exist_ok=True)
        (cache / f"{recording.id}-abc.wav").write_bytes(b"x")
        s.add(
            Transcript(
                recording_id=recording.id,
                engine="vosk",
                language="id",
                text="dipukul",
                created_at=NOW,
            )
        )
        s.add(CaseNote(case_id=case.id, body="her sister's name", created_at=NOW))
        s.add(
            Referral(
                case_id=case.id,
                kind=ReferralKind.police,
                organisation="Polres",
                contact="Pak Budi 0812",
                referred_at=NOW,
                outcome="filed",
            )
        )
        s.add(FollowUp(case_id=case.id, description="call Pak Budi", due_at=NOW))
        return case.id


def test_purge_removes_personal_content_and_keeps_counts(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url, DESBUMI_RETENTION__CLOSED_CASE_MONTHS="24")
    db = Database.from_settings(settings)
    old = _case(db, settings, "100001", closed_days_ago=800)
    recent = _case(db, settings, "100002", closed_days_ago=30)
    still_open = _case(db, settings, "100003", closed_days_ago=None)
    with db.transaction() as s:
        assert purge_closed_cases(s, settings, NOW) == 1
    with db.transaction() as s:
        assert purge_closed_cases(s, settings, NOW) == 0  # once only
    assert not (settings.data_dir / "recordings" / "100001.wav").exists()
    assert (settings.data_dir / "recordings" / "100002.wav").exists()
    assert len(list((settings.data_dir / "cache" / "playback").iterdir())) == 2
    with db.read_session() as s:
        case = s.get(Case, old)
        assert case is not None and case.purged_at == NOW
        assert case.indicators == [{"indicator": "physical_violence", "source": "machine"}]
        assert case.urgency_reasons == ["physical violence"]
        assert case.close_reason == "(purged)"
        recording = s.scalars(select(Recording).where(Recording.case_id == old)).one()
        assert recording.purged_at == NOW
        assert (
            s.scalar(
                select(func.count())
                .select_from(Transcript)
                .where(Transcript.recording_id == recording.id)
            )
            == 0
        )
        assert (
            s.scalar(select(func.count()).select_from(CaseNote).where(CaseNote.case_id == old)) == 0
        )
        referral = s.scalars(select(Referral).where(Referral.case_id == old)).one()
        assert (referral.kind, referral.organisation, referral.contact, referral.outcome) == (
            ReferralKind.police,
            "Polres",
            "",
            None,
        )
        assert (
            s.scalars(select(FollowUp.description).where(FollowUp.case_id == old)).one()
            == "(purged)"
        )
        for kept in (recent, still_open):
            assert (
                s.scalar(select(func.count()).select_from(CaseNote).where(CaseNote.case_id == kept))
                == 1
            )
        # The statistics still count all three cases.
        assert s.scalar(select(func.count()).select_from(Case)) == 3
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "retention.purge")).one()
        assert event.object_id == str(old) and event.details["transcripts"] == 1
    db.dispose()


def test_zero_months_keeps_everything(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url, DESBUMI_RETENTION__CLOSED_CASE_MONTHS="0")
    db = Database.from_settings(settings)
    _case(db, settings, "100004", closed_days_ago=5000)
    with db.transaction() as s:
        assert purge_closed_cases(s, settings, NOW) == 0
        assert retention_task(settings).run(s, NOW) == 0
    db.dispose()


def test_months_before_clamps_to_the_end_of_the_month() -> None:
    assert months_before(datetime(2026, 3, 31, tzinfo=UTC), 1) == datetime(2026, 2, 28, tzinfo=UTC)
    assert months_before(datetime(2026, 1, 15, tzinfo=UTC), 24) == datetime(2024, 1, 15, tzinfo=UTC)
    assert months_before(datetime(2026, 1, 15, tzinfo=UTC), 13) == datetime(
        2024, 12, 15, tzinfo=UTC
    )
