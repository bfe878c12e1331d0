"""The retention period: what a closed case says about a person is purged after N months.

Purged: the recording files (and their playback copies), the transcripts, the notes, the
phrases quoted as evidence and in the urgency reasons, the referral contacts and
outcomes, the follow-up texts and the closing reason. Kept, for the anonymous
statistics: the case row with its dates, village, destination country, the names of its
indicators and its urgency, and the caller's sex. Each purge is one audit event.

``DESBUMI_RETENTION__CLOSED_CASE_MONTHS`` sets N (0 keeps everything). A case reopened
before the period ends is not closed and is not touched.
"""

from __future__ import annotations

import calendar
import logging
from datetime import datetime
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.models import AuditEvent, Case, CaseNote, FollowUp, Recording, Referral, Transcript
from core.periodic import PeriodicTask
from core.settings import Settings
from core.states import CaseStatus

logger = logging.getLogger(__name__)

BATCH = 200
PURGED = "(purged)"


def months_before(moment: datetime, months: int) -> datetime:
    """The same day and time ``months`` calendar months earlier (clamped to month ends)."""
    year, month = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    last_day = calendar.monthrange(year, month + 1)[1]
    return moment.replace(year=year, month=month + 1, day=min(moment.day, last_day))


def _purge_case(session: Session, case: Case, data_dir: Path, now: datetime) -> dict[str, int]:
    counts = {"recordings": 0, "transcripts": 0, "notes": 0}
    recordings = session.scalars(select(Recording).where(Recording.case_id == case.id)).all()
    for recording in recordings:
        if recording.purged_at is None:
            (data_dir / recording.path).unlink(missing_ok=True)
            for copy in (data_dir / "cache" / "playback").glob(f"{recording.id}-*.wav"):
                copy.unlink(missing_ok=True)
            recording.purged_at = now
            counts["recordings"] += 1
        result = session.execute(delete(Transcript).where(Transcript.recording_id == recording.id))
        counts["transcripts"] += int(getattr(result, "rowcount", 0) or 0)
    result = session.execute(delete(CaseNote).where(CaseNote.case_id == case.id))
    counts["notes"] = int(getattr(result, "rowcount", 0) or 0)
    for referral in session.scalars(select(Referral).where(Referral.case_id == case.id)):
        referral.contact = ""
        referral.outcome = None
    for task in session.scalars(select(FollowUp).where(FollowUp.case_id == case.id)):
        task.description = PURGED
    case.indicators = [
        {"indicator": item.get("indicator"), "source": item.get("source", "machine")}
        for item in case.indicators
    ]
    case.urgency_reasons = [
        str(item.get("indicator", "")).replace("_", " ") for item in case.indicators
    ]
    case.close_reason = PURGED
    case.purged_at = now
    return counts


def purge_closed_cases(session: Session, settings: Settings, now: datetime) -> int:
    """Purge up to BATCH cases closed before the retention period; returns how many.

    Files are deleted before the transaction commits; a rollback then leaves rows that
    point at missing files, which the pages show as purged or missing, never wrong data.
    """
    months = settings.retention.closed_case_months
    if months <= 0:
        return 0
    cutoff = months_before(now, months)
    cases = session.scalars(
        select(Case)
        .where(
            Case.status == CaseStatus.closed,
            Case.closed_at < cutoff,
            Case.purged_at.is_(None),
        )
        .order_by(Case.closed_at, Case.id)
        .limit(BATCH)
    ).all()
    for case in cases:
        counts = _purge_case(session, case, settings.data_dir, now)
        session.add(
            AuditEvent(
                at=now,
                actor_kind="system",
                action="retention.purge",
                object_type="case",
                object_id=str(case.id),
                details={"months": months, **counts},
            )
        )
        logger.info("case_id=%s purged after %s months closed", case.id, months)
    return len(cases)


def retention_task(settings: Settings, interval_s: float = 3600.0) -> PeriodicTask:
    """The scheduler's hourly purge."""
    return PeriodicTask(
        "retention.purge",
        interval_s,
        lambda session, now: purge_closed_cases(session, settings, now),
    )
