"""The case API: inbox, one case, and every change to it (each audited)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse
from sqlalchemy.orm import Session

from admin_api import casework, media, schemas
from admin_api.access import CASE_ROLES, api_principal, requires, scoped_case
from admin_api.auth import Principal
from admin_api.case_view import case_detail
from admin_api.casework import Actor
from admin_api.context import app_context, client_address, read_tx, write_tx
from admin_api.errors import NotFound
from admin_api.inbox import InboxFilter, inbox
from admin_api.params import MAX_ID, PathId, QueryId
from core.models import Case, Recording
from core.states import CaseStatus
from transcription.triage import Indicator

router = APIRouter(prefix="/cases", tags=["cases"])
CaseWorker = Annotated[Principal, Depends(requires(api_principal, *CASE_ROLES))]
ScopedCase = Annotated[Case, Depends(scoped_case(api_principal))]
WriteSession = Annotated[Session, Depends(write_tx, scope="function")]
ReadSession = Annotated[Session, Depends(read_tx, scope="function")]


def _actor(request: Request, principal: Principal) -> Actor:
    return Actor(principal, app_context(request).now(), client_address(request))


def _detail(
    request: Request, session: Session, principal: Principal, case: Case
) -> schemas.CaseOut:
    context = app_context(request)
    return schemas.case_out(case_detail(session, principal, case, context.vault), context.now())


@router.get("")
def list_cases(
    request: Request,
    principal: CaseWorker,
    session: ReadSession,
    status: Annotated[list[CaseStatus] | None, Query()] = None,
    indicator: Indicator | None = None,
    village_id: QueryId = None,
    district_id: QueryId = None,
    language: Annotated[str | None, Query(max_length=8)] = None,
    assignee_id: Annotated[
        int | None, Query(ge=0, le=MAX_ID, description="a user id; 0 for cases nobody has")
    ] = None,
    created_from: date | None = None,
    created_to: date | None = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> schemas.InboxOut:
    """The inbox: open cases (or ``status``), most urgent first, then oldest first."""
    context = app_context(request)
    filters = InboxFilter(
        statuses=tuple(status) if status else InboxFilter().statuses,
        indicator=indicator,
        village_id=village_id,
        district_id=district_id,
        language=language,
        assignee_id=assignee_id,
        created_from=created_from,
        created_to=created_to,
        page=page,
    )
    result = inbox(
        session,
        principal,
        filters,
        page_size=context.settings.web.page_size,
        timezone=context.settings.timezone,
    )
    return schemas.InboxOut(
        cases=[schemas.row_summary(c) for c in result.cases],
        page=result.page,
        next_page=result.page + 1 if result.has_next else None,
    )


@router.get("/{case_id}", responses={404: {}})
def get_case(
    request: Request, case: ScopedCase, principal: CaseWorker, session: WriteSession
) -> schemas.CaseOut:
    """One case with its recordings, transcripts, referrals, notes, follow-ups and caller."""
    casework.record_view(session, case, _actor(request, principal))
    return _detail(request, session, principal, case)


@router.get(
    "/{case_id}/recordings/{recording_id}/audio",
    response_class=FileResponse,
    responses={200: {"content": {"audio/wav": {}}}, 206: {}, 404: {}, 416: {}},
)
def recording_audio(
    request: Request,
    recording_id: PathId,
    case: ScopedCase,
    principal: CaseWorker,
    session: WriteSession,
) -> FileResponse:
    """The recording as WAV; supports ``Range`` (the player seeks without downloading all)."""
    recording = session.get(Recording, recording_id)
    if recording is None or recording.case_id != case.id:
        raise NotFound(f"no recording {recording_id} in this case")
    path = media.playable_path(app_context(request).settings, recording)
    casework.record_listening(session, case, _actor(request, principal))
    return media.audio_response(path)


@router.post("/{case_id}/transcript", responses={404: {}, 422: {}})
def correct_transcript(
    request: Request,
    body: schemas.TranscriptIn,
    case: ScopedCase,
    principal: CaseWorker,
    session: WriteSession,
) -> schemas.CaseOut:
    """Type or correct the transcript; the machine's text stays beside it; triage re-runs."""
    casework.correct_transcript(
        session, case, body.recording_id, body.text, _actor(request, principal)
    )
    return _detail(request, session, principal, case)


@router.put("/{case_id}/indicators")
def set_indicators(
    request: Request,
    body: schemas.IndicatorsIn,
    case: ScopedCase,
    principal: CaseWorker,
    session: WriteSession,
) -> schemas.CaseOut:
    """Confirm, add or remove indicators (the full list)."""
    casework.set_indicators(session, case, body.indicators, _actor(request, principal))
    return _detail(request, session, principal, case)


@router.put("/{case_id}/urgency")
def set_urgency(
    request: Request,
    body: schemas.UrgencyIn,
    case: ScopedCase,
    principal: CaseWorker,
    session: WriteSession,
) -> schemas.CaseOut:
    casework.set_urgency(session, case, body.urgency, body.reason, _actor(request, principal))
    return _detail(request, session, principal, case)


@router.put("/{case_id}/assignee")
def set_assignee(
    request: Request,
    body: schemas.AssigneeIn,
    case: ScopedCase,
    principal: CaseWorker,
    session: WriteSession,
) -> schemas.CaseOut:
    casework.assign(session, case, body.user_id, _actor(request, principal))
    return _detail(request, session, principal, case)


@router.post("/{case_id}/status", responses={409: {}})
def change_status(
    request: Request,
    body: schemas.StatusIn,
    case: ScopedCase,
    principal: CaseWorker,
    session: WriteSession,
) -> schemas.CaseOut:
    """new -> in_review -> referred -> follow_up -> closed (with a reason); see core.states."""
    casework.change_status(session, case, body.status, body.reason, _actor(request, principal))
    return _detail(request, session, principal, case)


@router.put("/{case_id}/village")
def set_village(
    request: Request,
    body: schemas.VillageIn,
    case: ScopedCase,
    principal: CaseWorker,
    session: WriteSession,
) -> schemas.CaseOut:
    casework.set_village(session, case, body.village_id, _actor(request, principal))
    return _detail(request, session, principal, case)


@router.post("/{case_id}/referrals", status_code=201)
def add_referral(
    request: Request,
    body: schemas.ReferralIn,
    case: ScopedCase,
    principal: CaseWorker,
    session: WriteSession,
) -> schemas.ReferralOut:
    actor = _actor(request, principal)
    zone = casework.case_timezone(case, app_context(request).settings.timezone)
    referred_at = (
        casework.local_day_at(body.referred_on, 12, zone) if body.referred_on else actor.now
    )
    referral = casework.add_referral(
        session,
        case,
        kind=body.kind,
        organisation=body.organisation,
        contact=body.contact,
        referred_at=referred_at,
        outcome=body.outcome,
        actor=actor,
    )
    return schemas.ReferralOut(
        id=referral.id,
        kind=referral.kind,
        organisation=referral.organisation,
        contact=referral.contact,
        referred_at=referral.referred_at,
        outcome=referral.outcome,
    )


@router.patch("/{case_id}/referrals/{referral_id}")
def set_referral_outcome(
    request: Request,
    referral_id: PathId,
    body: schemas.OutcomeIn,
    case: ScopedCase,
    principal: CaseWorker,
    session: WriteSession,
) -> schemas.ReferralOut:
    r = casework.set_referral_outcome(
        session, case, referral_id, body.outcome, _actor(request, principal)
    )
    return schemas.ReferralOut(
        id=r.id,
        kind=r.kind,
        organisation=r.organisation,
        contact=r.contact,
        referred_at=r.referred_at,
        outcome=r.outcome,
    )


@router.post("/{case_id}/follow-ups", status_code=201)
def add_follow_up(
    request: Request,
    body: schemas.FollowUpIn,
    case: ScopedCase,
    principal: CaseWorker,
    session: WriteSession,
) -> schemas.FollowUpOut:
    actor = _actor(request, principal)
    zone = casework.case_timezone(case, app_context(request).settings.timezone)
    task = casework.add_follow_up(
        session,
        case,
        description=body.description,
        due_at=casework.local_day_at(body.due_on, 17, zone),
        assignee_id=body.assignee_id,
        actor=actor,
    )
    return schemas.follow_up_out(task, actor.now)


@router.post("/{case_id}/follow-ups/{follow_up_id}/done")
def complete_follow_up(
    request: Request,
    follow_up_id: PathId,
    case: ScopedCase,
    principal: CaseWorker,
    session: WriteSession,
) -> schemas.FollowUpOut:
    actor = _actor(request, principal)
    task = casework.complete_follow_up(session, case, follow_up_id, actor)
    return schemas.follow_up_out(task, actor.now)


@router.post("/{case_id}/notes", status_code=201)
def add_note(
    request: Request,
    body: schemas.NoteIn,
    case: ScopedCase,
    principal: CaseWorker,
    session: WriteSession,
) -> schemas.NoteOut:
    note = casework.add_note(session, case, body.body, _actor(request, principal))
    return schemas.NoteOut(
        id=note.id, author=principal.display_name, body=note.body, created_at=note.created_at
    )


@router.post("/{case_id}/caller-number")
def reveal_caller_number(
    request: Request, case: ScopedCase, principal: CaseWorker, session: WriteSession
) -> schemas.NumberOut:
    """The caller's number in clear (to call her back). Every reveal is audited."""
    number = casework.reveal_caller_number(
        session, case, app_context(request).vault, _actor(request, principal)
    )
    return schemas.NumberOut(number=number)
