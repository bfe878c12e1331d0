"""The API's request and response bodies (pydantic); OpenAPI documents them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field

from admin_api.case_view import CaseDetail
from admin_api.inbox import InboxRow
from admin_api.params import BodyId, OptionalBodyId
from core.models import Case
from core.states import CaseStatus, ReferralKind, TranscriptionStatus, Urgency
from transcription.triage import Indicator


class CaseSummary(BaseModel):
    id: int
    reference: str
    status: CaseStatus
    urgency: Urgency
    # Why it is this urgent: the indicator phrases, repeat reports, a case worker's word.
    urgency_reasons: list[str]
    indicators: list[str]
    village: str | None
    district: str | None
    language: str
    assignee_id: int | None
    destination_country: str | None
    incomplete: bool
    created_at: datetime
    updated_at: datetime


class InboxOut(BaseModel):
    cases: list[CaseSummary]
    page: int
    next_page: int | None


def row_summary(row: InboxRow) -> CaseSummary:
    return CaseSummary(
        id=row.id,
        reference=row.reference,
        status=row.status,
        urgency=row.urgency,
        urgency_reasons=[str(r) for r in row.urgency_reasons],
        indicators=[str(i.get("indicator", "")) for i in row.indicators],
        village=row.village_name,
        district=row.district_name,
        language=row.language,
        assignee_id=row.assignee_id,
        destination_country=row.destination_country,
        incomplete=row.incomplete,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def summary(case: Case) -> CaseSummary:
    return CaseSummary(
        id=case.id,
        reference=case.reference,
        status=case.status,
        urgency=case.urgency,
        urgency_reasons=[str(r) for r in case.urgency_reasons],
        indicators=[str(i.get("indicator", "")) for i in case.indicators],
        village=case.village.name if case.village else None,
        district=case.village.district.name if case.village else None,
        language=case.language,
        assignee_id=case.assignee_id,
        destination_country=case.destination_country,
        incomplete=case.incomplete,
        created_at=case.created_at,
        updated_at=case.updated_at,
    )


class WordOut(BaseModel):
    word: str
    start: float
    end: float
    conf: float
    low_confidence: bool
    indicator: str


class TranscriptOut(BaseModel):
    id: int
    engine: str
    machine_text: str
    corrected_text: str | None
    corrected_by: str | None
    corrected_at: datetime | None
    confidence: float | None
    words: list[WordOut]


class RecordingOut(BaseModel):
    id: int
    duration_s: float
    format: str
    partial: bool
    transcription: TranscriptionStatus
    purged: bool
    audio_url: str | None
    transcript: TranscriptOut | None


class EvidenceOut(BaseModel):
    indicator: str
    phrase: str
    start: float | None
    end: float | None
    source: str
    confirmed: bool


class ReferralOut(BaseModel):
    id: int
    kind: ReferralKind
    organisation: str
    contact: str
    referred_at: datetime
    outcome: str | None


class NoteOut(BaseModel):
    id: int
    author: str | None
    body: str
    created_at: datetime


class FollowUpOut(BaseModel):
    id: int
    case_id: int
    description: str
    due_at: datetime
    done_at: datetime | None
    assignee_id: int | None
    overdue: bool


class CallerOut(BaseModel):
    id: int
    masked_number: str
    sex: str
    home_village: str | None
    other_cases: list[CaseSummary]
    calls: list[dict[str, Any]]


class CaseOut(CaseSummary):
    keypad_hints: dict[str, Any]
    close_reason: str | None
    related_case_id: int | None
    evidence: list[EvidenceOut]
    recordings: list[RecordingOut]
    referrals: list[ReferralOut]
    notes: list[NoteOut]
    follow_ups: list[FollowUpOut]
    caller: CallerOut | None
    next_statuses: list[CaseStatus]


def case_out(detail: CaseDetail, now: datetime) -> CaseOut:
    case = detail.case
    recordings = [
        RecordingOut(
            id=r.id,
            duration_s=r.duration_s,
            format=r.format,
            partial=r.partial,
            transcription=r.transcription,
            purged=r.purged,
            audio_url=None if r.purged else f"/api/v1/cases/{case.id}/recordings/{r.id}/audio",
            transcript=None
            if r.transcript is None
            else TranscriptOut(
                id=r.transcript.id,
                engine=r.transcript.engine,
                machine_text=r.transcript.machine_text,
                corrected_text=r.transcript.corrected_text,
                corrected_by=r.transcript.corrected_by,
                corrected_at=r.transcript.corrected_at,
                confidence=r.transcript.confidence,
                words=[
                    WordOut(
                        word=w.word,
                        start=w.start,
                        end=w.end,
                        conf=w.conf,
                        low_confidence=w.low,
                        indicator=w.hit,
                    )
                    for w in r.transcript.words
                ],
            ),
        )
        for r in detail.recordings
    ]
    caller = None
    if detail.caller is not None:
        c = detail.caller
        caller = CallerOut(
            id=c.id,
            masked_number=c.masked_number,
            sex=c.sex,
            home_village=c.home_village,
            other_cases=[summary(o) for o in c.other_cases],
            calls=[
                {
                    "id": call.id,
                    "started_at": call.started_at.isoformat(),
                    "direction": str(call.direction),
                    "outcome": str(call.outcome),
                }
                for call in c.calls
            ],
        )
    return CaseOut(
        **summary(case).model_dump(),
        keypad_hints=dict(case.keypad_hints),
        close_reason=case.close_reason,
        related_case_id=detail.related_case_id,
        evidence=[EvidenceOut(**vars(e)) for e in detail.evidence],
        recordings=recordings,
        referrals=[
            ReferralOut(
                id=r.id,
                kind=r.kind,
                organisation=r.organisation,
                contact=r.contact,
                referred_at=r.referred_at,
                outcome=r.outcome,
            )
            for r in case.referrals
        ],
        notes=[
            NoteOut(
                id=n.id,
                author=detail.users.get(n.author_id) if n.author_id else None,
                body=n.body,
                created_at=n.created_at,
            )
            for n in case.notes
        ],
        follow_ups=[follow_up_out(f, now) for f in case.follow_ups],
        caller=caller,
        next_statuses=detail.next_statuses,
    )


def follow_up_out(task: Any, now: datetime) -> FollowUpOut:
    return FollowUpOut(
        id=task.id,
        case_id=task.case_id,
        description=task.description,
        due_at=task.due_at,
        done_at=task.done_at,
        assignee_id=task.assignee_id,
        overdue=task.done_at is None and task.due_at < now,
    )


class TranscriptIn(BaseModel):
    recording_id: BodyId
    text: str = Field(min_length=1, max_length=20_000)


class IndicatorsIn(BaseModel):
    indicators: list[Indicator] = Field(max_length=len(Indicator))


class UrgencyIn(BaseModel):
    urgency: Urgency
    reason: str = Field(min_length=1, max_length=300)


class AssigneeIn(BaseModel):
    user_id: OptionalBodyId


class StatusIn(BaseModel):
    status: CaseStatus
    reason: str = Field(default="", max_length=2000)


class ReferralIn(BaseModel):
    kind: ReferralKind
    organisation: str = Field(min_length=1, max_length=200)
    contact: str = Field(default="", max_length=200)
    referred_on: date | None = Field(default=None, description="local date; default today")
    outcome: str = Field(default="", max_length=20_000)


class OutcomeIn(BaseModel):
    outcome: str = Field(max_length=20_000)


class FollowUpIn(BaseModel):
    description: str = Field(min_length=1, max_length=20_000)
    due_on: date = Field(description="local date; overdue after 17:00 that day")
    assignee_id: OptionalBodyId = None


class NoteIn(BaseModel):
    body: str = Field(min_length=1, max_length=20_000)


class VillageIn(BaseModel):
    village_id: BodyId


class NumberOut(BaseModel):
    number: str = Field(description="in clear; this reveal is in the audit log")
