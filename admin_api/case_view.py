"""Everything the case page (and ``GET /api/v1/cases/{id}``) shows about one case.

The transcript is shown as words with their times, so a click on a word seeks the audio;
words the recogniser was unsure of are marked, and the words of each matched indicator
phrase are highlighted with the phrase's time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from admin_api.access import call_visibility, case_visibility, may_see, may_see_village
from admin_api.auth import Principal
from core.models import AuditEvent, Call, Case, Recording, Transcript, User
from core.security import DecryptionFailed, PhoneVault, mask_phone_number
from core.states import CaseStatus, TranscriptionStatus, UserRole, allowed_targets

# Below this confidence a recognised word is marked as doubtful.
LOW_CONFIDENCE = 0.6
# What the page says about a recording's transcription, by state.
TRANSCRIPTION_NOTICE = {
    TranscriptionStatus.pending: "transcription.pending",
    TranscriptionStatus.awaiting_model: "transcription.awaiting_model",
    TranscriptionStatus.unreadable: "transcription.unreadable",
    TranscriptionStatus.done: "",
}


@dataclass(frozen=True)
class WordView:
    word: str
    start: float
    end: float
    conf: float
    low: bool
    # The indicator whose matched phrase this word is part of, or "".
    hit: str


@dataclass(frozen=True)
class TranscriptView:
    id: int
    engine: str
    machine_text: str
    words: list[WordView]
    confidence: float | None
    corrected_text: str | None
    corrected_by: str | None
    corrected_at: datetime | None

    @property
    def text(self) -> str:
        """The text that counts: the correction when there is one."""
        return self.corrected_text if self.corrected_text is not None else self.machine_text


@dataclass(frozen=True)
class RecordingView:
    id: int
    duration_s: float
    format: str
    partial: bool
    transcription: TranscriptionStatus
    notice: str
    purged: bool
    created_at: datetime
    transcript: TranscriptView | None


@dataclass(frozen=True)
class EvidenceView:
    indicator: str
    phrase: str
    start: float | None
    end: float | None
    source: str
    confirmed: bool


@dataclass(frozen=True)
class CallerView:
    id: int
    masked_number: str
    sex: str
    home_village: str | None
    first_seen_at: datetime
    last_seen_at: datetime
    other_cases: list[Case]
    calls: list[Call]


@dataclass
class CaseDetail:
    case: Case
    recordings: list[RecordingView]
    evidence: list[EvidenceView]
    caller: CallerView | None
    next_statuses: list[CaseStatus]
    users: dict[int, str]
    history: list[AuditEvent] = field(default_factory=list)
    # The caller's open case this report repeats, if the principal may see it.
    related_case_id: int | None = None


def _words(words: list[Any], evidence: list[EvidenceView]) -> list[WordView]:
    spans = [(e.start, e.end, e.indicator) for e in evidence if e.start is not None]
    out = []
    for w in words:
        start, end = float(w.get("start", 0.0)), float(w.get("end", 0.0))
        conf = float(w.get("conf", 1.0))
        hit = next(
            (
                name
                for s, e, name in spans
                if s is not None and e is not None and start >= s - 0.01 and end <= e + 0.01
            ),
            "",
        )
        out.append(WordView(str(w.get("word", "")), start, end, conf, conf < LOW_CONFIDENCE, hit))
    return out


def _transcript(
    row: Transcript, evidence: list[EvidenceView], users: dict[int, str]
) -> TranscriptView:
    return TranscriptView(
        id=row.id,
        engine=row.engine,
        machine_text=row.text,
        words=_words(list(row.words or []), evidence),
        confidence=row.confidence,
        corrected_text=row.corrected_text,
        corrected_by=users.get(row.corrected_by_id) if row.corrected_by_id else None,
        corrected_at=row.corrected_at,
    )


def _user_names(session: Session) -> dict[int, str]:
    return {
        uid: full or name
        for uid, name, full in session.execute(select(User.id, User.username, User.full_name))
    }


def masked_number(vault: PhoneVault, ciphertext: bytes) -> str:
    try:
        return mask_phone_number(vault.decrypt(ciphertext))
    except DecryptionFailed:
        return "•••"


def _caller_view(
    session: Session, principal: Principal, case: Case, vault: PhoneVault
) -> CallerView | None:
    """The caller as far as ``principal`` may see her: her other cases and calls, where she
    lives and when she first called, within the principal's districts only. Nothing says
    whether there is more (not even how much), as for a case out of scope."""
    c = case.caller
    if c is None:
        return None
    other_cases = list(
        session.scalars(
            select(Case)
            .where(Case.caller_id == c.id, Case.id != case.id, case_visibility(principal))
            .order_by(Case.created_at.desc())
            .limit(20)
        )
    )
    calls = list(
        session.scalars(
            select(Call)
            .where(Call.caller_id == c.id, call_visibility(principal))
            .order_by(Call.started_at.desc())
            .limit(20)
        )
    )
    home = c.home_village
    if home is not None and not may_see_village(principal, home.district_id):
        home = None
    first_seen, last_seen = c.first_seen_at, c.last_seen_at
    if principal.role is not UserRole.admin:
        # Her first and last call may have been in another district.
        seen = [case.created_at, *(o.created_at for o in other_cases)]
        seen += [call.started_at for call in calls]
        first_seen, last_seen = min(seen), max(seen)
    return CallerView(
        id=c.id,
        # A purged case says nothing of her number, not even its last digits.
        masked_number="•••" if case.purged_at else masked_number(vault, c.phone_encrypted),
        sex=str(c.sex),
        home_village=home.name if home else None,
        first_seen_at=first_seen,
        last_seen_at=last_seen,
        other_cases=other_cases,
        calls=calls,
    )


def case_detail(
    session: Session, principal: Principal, case: Case, vault: PhoneVault
) -> CaseDetail:
    users = _user_names(session)
    evidence = [
        EvidenceView(
            indicator=str(item.get("indicator", "")),
            phrase=str(item.get("phrase", "")),
            start=item.get("start"),
            end=item.get("end"),
            source=str(item.get("source", "machine")),
            confirmed="confirmed_by" in item,
        )
        for item in case.indicators
    ]
    recordings = []
    for rec in session.scalars(
        select(Recording).where(Recording.case_id == case.id).order_by(Recording.id)
    ):
        latest = session.scalar(
            select(Transcript)
            .where(Transcript.recording_id == rec.id)
            .order_by(Transcript.id.desc())
            .limit(1)
        )
        recordings.append(
            RecordingView(
                id=rec.id,
                duration_s=rec.duration_s,
                format=rec.format,
                partial=rec.partial,
                transcription=rec.transcription,
                notice=TRANSCRIPTION_NOTICE[rec.transcription],
                purged=rec.purged_at is not None,
                created_at=rec.created_at,
                transcript=_transcript(latest, evidence, users) if latest else None,
            )
        )
    caller = _caller_view(session, principal, case, vault)
    history = list(
        session.scalars(
            select(AuditEvent)
            .where(
                AuditEvent.object_type == "case",
                AuditEvent.object_id == str(case.id),
                AuditEvent.action.not_like("case.read.%"),
            )
            .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
            .limit(50)
        )
    )
    related = session.get(Case, case.related_case_id) if case.related_case_id else None
    return CaseDetail(
        related_case_id=related.id if related and may_see(principal, related) else None,
        case=case,
        recordings=recordings,
        evidence=evidence,
        caller=caller,
        next_statuses=sorted(allowed_targets(case.status), key=list(CaseStatus).index),
        users=users,
        history=history,
    )
