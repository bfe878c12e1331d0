"""The case pages: the inbox and the case page with every action on a case.

Each form posts to its own path and is answered with a redirect back to the case
(post/redirect/get), so reloading a page never repeats an action.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from admin_api import casework
from admin_api.access import CASE_ROLES, requires, scoped_case, web_principal
from admin_api.auth import Principal
from admin_api.case_view import case_detail
from admin_api.casework import Actor
from admin_api.context import app_context, client_address, read_tx, write_tx
from admin_api.errors import Invalid
from admin_api.inbox import OPEN_STATUSES, UNASSIGNED, InboxFilter, inbox
from admin_api.params import MAX_ID, FormId, PathId
from admin_api.web import render
from core.models import Case, District, User, Village
from core.states import CaseStatus, ReferralKind, Urgency, UserRole
from transcription.triage import Indicator

router = APIRouter(include_in_schema=False)
CaseWorker = Annotated[Principal, Depends(requires(web_principal, *CASE_ROLES))]
ScopedCase = Annotated[Case, Depends(scoped_case(web_principal))]
WriteSession = Annotated[Session, Depends(write_tx, scope="function")]
ReadSession = Annotated[Session, Depends(read_tx, scope="function")]


def _actor(request: Request, principal: Principal) -> Actor:
    return Actor(principal, app_context(request).now(), client_address(request))


def _back(case: Case, done: str, anchor: str = "") -> RedirectResponse:
    return RedirectResponse(
        f"/cases/{case.id}?done={done}" + (f"#{anchor}" if anchor else ""), status_code=303
    )


def _int_or_none(text: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not text.isdigit() or int(text) > MAX_ID:
        raise Invalid(f"not an identifier: {text[:20]!r}")
    return int(text)


def _places(session: Session, principal: Principal) -> tuple[list[District], list[Village]]:
    districts = list(session.scalars(select(District).order_by(District.name)))
    villages = list(session.scalars(select(Village).order_by(Village.name)))
    if principal.role is UserRole.case_worker:
        districts = [d for d in districts if d.id in principal.district_ids]
        villages = [v for v in villages if v.district_id in principal.district_ids]
    return districts, villages


@router.get("/cases")
def inbox_page(
    request: Request,
    principal: CaseWorker,
    session: ReadSession,
    status: Annotated[str, Query(max_length=16)] = "open",
    indicator: Annotated[str, Query(max_length=64)] = "",
    village: Annotated[str, Query(max_length=12)] = "",
    district: Annotated[str, Query(max_length=12)] = "",
    language: Annotated[str, Query(max_length=8)] = "",
    assignee: Annotated[str, Query(max_length=12)] = "",
    created_from: date | None = None,
    created_to: date | None = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    context = app_context(request)
    if status == "open":
        statuses: tuple[CaseStatus, ...] = OPEN_STATUSES
    elif status == "all":
        statuses = ()
    else:
        statuses = (CaseStatus(status),) if status in CaseStatus.__members__ else OPEN_STATUSES
    assignee_id: int | None
    if assignee == "me":
        assignee_id = principal.user_id
    elif assignee == "none":
        assignee_id = UNASSIGNED
    else:
        assignee_id = _int_or_none(assignee)
    filters = InboxFilter(
        statuses=statuses,
        indicator=Indicator(indicator) if indicator in Indicator.__members__ else None,
        village_id=_int_or_none(village),
        district_id=_int_or_none(district),
        language=language or None,
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
    districts, villages = _places(session, principal)
    users = list(
        session.scalars(
            select(User)
            .where(User.role.in_([UserRole.admin, UserRole.case_worker]))
            .order_by(User.username)
        )
    )
    query = dict(request.query_params)
    query.pop("page", None)
    return render(
        request,
        "cases.html",
        {
            "result": result,
            "filters": {
                "status": status,
                "indicator": indicator,
                "village": village,
                "district": district,
                "language": language,
                "assignee": assignee,
                "created_from": created_from.isoformat() if created_from else "",
                "created_to": created_to.isoformat() if created_to else "",
            },
            "query": "&".join(f"{k}={v}" for k, v in query.items()),
            "statuses": list(CaseStatus),
            "indicators": list(Indicator),
            "districts": districts,
            "villages": villages,
            "users": users,
            "languages_seen": context.settings.vosk.languages,
        },
    )


@router.get("/cases/{case_id}")
def case_page(
    request: Request,
    case: ScopedCase,
    principal: CaseWorker,
    session: WriteSession,
    done: Annotated[str, Query(max_length=40)] = "",
) -> HTMLResponse:
    casework.record_view(session, case, _actor(request, principal))
    return _case_page(request, session, principal, case, done=done)


def _case_page(
    request: Request,
    session: Session,
    principal: Principal,
    case: Case,
    *,
    done: str = "",
    revealed: str = "",
) -> HTMLResponse:
    context = app_context(request)
    detail = case_detail(session, principal, case, context.vault)
    _districts, villages = _places(session, principal)
    if principal.role is UserRole.case_worker and case.village_id is None:
        # An unplaced case may be routed to any village.
        villages = list(session.scalars(select(Village).order_by(Village.name)))
    return render(
        request,
        "case.html",
        {
            "d": detail,
            "c": case,
            "done": done if done.replace("_", "").isalnum() else "",
            "revealed": revealed,
            "indicators": list(Indicator),
            "urgencies": [u for u in Urgency if u is not Urgency.untriaged],
            "referral_kinds": list(ReferralKind),
            "assignable": casework.assignable_users(session, case),
            "villages": villages,
            "case_tz": casework.case_timezone(case, context.settings.timezone),
            "today": context.now().date().isoformat(),
        },
    )


@router.post("/cases/{case_id}/transcript")
def correct_transcript(
    request: Request,
    case: ScopedCase,
    principal: CaseWorker,
    session: WriteSession,
    recording_id: FormId,
    text: Annotated[str, Form(max_length=20_000)],
) -> RedirectResponse:
    casework.correct_transcript(session, case, recording_id, text, _actor(request, principal))
    return _back(case, "transcript", f"recording-{recording_id}")


@router.post("/cases/{case_id}/indicators")
def set_indicators(
    request: Request,
    case: ScopedCase,
    principal: CaseWorker,
    session: WriteSession,
    indicator: Annotated[list[str] | None, Form()] = None,
) -> RedirectResponse:
    chosen = [Indicator(i) for i in indicator or [] if i in Indicator.__members__]
    casework.set_indicators(session, case, chosen, _actor(request, principal))
    return _back(case, "indicators", "triage")


@router.post("/cases/{case_id}/urgency")
def set_urgency(
    request: Request,
    case: ScopedCase,
    principal: CaseWorker,
    session: WriteSession,
    urgency: Annotated[Urgency, Form()],
    reason: Annotated[str, Form(max_length=300)] = "",
) -> RedirectResponse:
    casework.set_urgency(session, case, urgency, reason, _actor(request, principal))
    return _back(case, "urgency", "triage")


@router.post("/cases/{case_id}/assignee")
def set_assignee(
    request: Request,
    case: ScopedCase,
    principal: CaseWorker,
    session: WriteSession,
    user_id: Annotated[str, Form(max_length=12)] = "",
) -> RedirectResponse:
    casework.assign(session, case, _int_or_none(user_id), _actor(request, principal))
    return _back(case, "assignee", "work")


@router.post("/cases/{case_id}/status")
def change_status(
    request: Request,
    case: ScopedCase,
    principal: CaseWorker,
    session: WriteSession,
    status: Annotated[CaseStatus, Form()],
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> RedirectResponse:
    casework.change_status(session, case, status, reason, _actor(request, principal))
    return _back(case, "status", "work")


@router.post("/cases/{case_id}/village")
def set_village(
    request: Request,
    case: ScopedCase,
    principal: CaseWorker,
    session: WriteSession,
    village_id: FormId,
) -> RedirectResponse:
    casework.set_village(session, case, village_id, _actor(request, principal))
    return _back(case, "village", "work")


@router.post("/cases/{case_id}/referrals")
def add_referral(
    request: Request,
    case: ScopedCase,
    principal: CaseWorker,
    session: WriteSession,
    kind: Annotated[ReferralKind, Form()],
    organisation: Annotated[str, Form(max_length=200)],
    contact: Annotated[str, Form(max_length=200)] = "",
    referred_on: Annotated[date | None, Form()] = None,
    outcome: Annotated[str, Form(max_length=20_000)] = "",
) -> RedirectResponse:
    actor = _actor(request, principal)
    zone = casework.case_timezone(case, app_context(request).settings.timezone)
    casework.add_referral(
        session,
        case,
        kind=kind,
        organisation=organisation,
        contact=contact,
        referred_at=casework.local_day_at(referred_on, 12, zone) if referred_on else actor.now,
        outcome=outcome,
        actor=actor,
    )
    return _back(case, "referral", "referrals")


@router.post("/cases/{case_id}/referrals/{referral_id}/outcome")
def set_referral_outcome(
    request: Request,
    referral_id: PathId,
    case: ScopedCase,
    principal: CaseWorker,
    session: WriteSession,
    outcome: Annotated[str, Form(max_length=20_000)] = "",
) -> RedirectResponse:
    casework.set_referral_outcome(session, case, referral_id, outcome, _actor(request, principal))
    return _back(case, "outcome", "referrals")


@router.post("/cases/{case_id}/follow-ups")
def add_follow_up(
    request: Request,
    case: ScopedCase,
    principal: CaseWorker,
    session: WriteSession,
    description: Annotated[str, Form(max_length=20_000)],
    due_on: Annotated[date, Form()],
    assignee_id: Annotated[str, Form(max_length=12)] = "",
) -> RedirectResponse:
    zone = casework.case_timezone(case, app_context(request).settings.timezone)
    casework.add_follow_up(
        session,
        case,
        description=description,
        due_at=casework.local_day_at(due_on, 17, zone),
        assignee_id=_int_or_none(assignee_id),
        actor=_actor(request, principal),
    )
    return _back(case, "follow_up", "follow-ups")


@router.post("/cases/{case_id}/follow-ups/{follow_up_id}/done")
def complete_follow_up(
    request: Request,
    follow_up_id: PathId,
    case: ScopedCase,
    principal: CaseWorker,
    session: WriteSession,
) -> RedirectResponse:
    casework.complete_follow_up(session, case, follow_up_id, _actor(request, principal))
    return _back(case, "follow_up_done", "follow-ups")


@router.post("/cases/{case_id}/notes")
def add_note(
    request: Request,
    case: ScopedCase,
    principal: CaseWorker,
    session: WriteSession,
    body: Annotated[str, Form(max_length=20_000)],
) -> RedirectResponse:
    casework.add_note(session, case, body, _actor(request, principal))
    return _back(case, "note", "notes")


@router.post("/cases/{case_id}/caller-number")
def reveal_caller_number(
    request: Request, case: ScopedCase, principal: CaseWorker, session: WriteSession
) -> HTMLResponse:
    """Shows the number once, in this response only (it is never put in a URL)."""
    number = casework.reveal_caller_number(
        session, case, app_context(request).vault, _actor(request, principal)
    )
    return _case_page(request, session, principal, case, revealed=number)
