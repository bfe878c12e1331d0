"""The radio pages: programmes with their air times and the coming segments (play
buttons), one segment with its cue sheet, what aired (editors and admins); stations
(admins). A new station key is shown on the answer page once, never in a URL."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from admin_api import audit, radio_view
from admin_api.access import requires, web_principal
from admin_api.auth import Principal
from admin_api.context import app_context, client_address, read_tx, write_tx
from admin_api.errors import from_broadcast
from admin_api.i18n import Translator
from admin_api.radio_schemas import SLUG_PATTERN, Clean, SegmentId, Slug
from admin_api.recurrence import describe
from admin_api.routes.api_radio import public_base
from admin_api.web import language_of, render
from broadcasts import schedule, stations
from broadcasts.errors import InvalidContent, NotFound, SegmentStateError
from core.models import District, Programme
from core.states import UserRole

router = APIRouter(include_in_schema=False)
Editor = Annotated[Principal, Depends(requires(web_principal, UserRole.admin, UserRole.editor))]
Admin = Annotated[Principal, Depends(requires(web_principal, UserRole.admin))]
WriteSession = Annotated[Session, Depends(write_tx, scope="function")]
ReadSession = Annotated[Session, Depends(read_tx, scope="function")]
FormSlug = Annotated[str, Form(max_length=64, pattern=SLUG_PATTERN)]
FormText = Annotated[str, Form(max_length=120), Clean]
DONE = {"replan", "unchanged", "reassemble", "attach", "detach", "deactivate"}


def _translator(request: Request, principal: Principal) -> Translator:
    return Translator(language_of(request, principal))


@router.get("/programmes")
def programmes_page(
    request: Request,
    principal: Editor,
    session: ReadSession,
    days: Annotated[int, Query(ge=1, le=31)] = 7,
) -> HTMLResponse:
    context = app_context(request)
    translate = _translator(request, principal)
    return render(
        request,
        "programmes.html",
        {
            "programmes": radio_view.programmes(session),
            "words": lambda slot: describe(
                translate, slot.rrule, slot.dtstart_local, slot.timezone
            ),
            "rows": radio_view.segment_rows(
                session, context.now(), days=days, default_zone=context.settings.timezone
            ),
            "days": days,
        },
    )


def _segment_page(
    request: Request, session: Session, segment_id: int, done: str, error: str = ""
) -> HTMLResponse:
    context = app_context(request)
    segment = radio_view.get_segment(session, segment_id)
    return render(
        request,
        "segment.html",
        {
            "s": segment,
            "zone": radio_view.segment_zone(segment, context.settings.timezone),
            "cues": radio_view.cue_rows(session, segment),
            "aired": radio_view.segment_airplays(session, segment.id),
            "done": done if done in DONE else "",
            "error": error,
        },
        status_code=409 if error else 200,
    )


@router.get("/segments/{segment_id}")
def segment_page(
    request: Request,
    segment_id: SegmentId,
    principal: Editor,
    session: ReadSession,
    done: Annotated[str, Query(max_length=40)] = "",
) -> HTMLResponse:
    return _segment_page(request, session, segment_id, done)


def _segment_action(
    request: Request, session: Session, principal: Principal, segment_id: int, action: str
) -> Response:
    context = app_context(request)
    now = context.now()
    try:
        with session.begin_nested():
            if action == "replan":
                changed = schedule.replan_segment(session, context.settings, segment_id, now)
            else:
                schedule.reassemble_segment(session, segment_id, now)
                changed = True
    except SegmentStateError as exc:
        # Shown on the segment's page, which says what the segment is now.
        return _segment_page(request, session, segment_id, "", str(exc))
    audit.record(
        session,
        principal,
        f"segment.{action}",
        now=now,
        source=client_address(request),
        object_type="segment",
        object_id=segment_id,
        details={"changed": changed},
    )
    done = action if changed else "unchanged"
    return RedirectResponse(f"/segments/{segment_id}?done={done}", status_code=303)


@router.post("/segments/{segment_id}/replan", response_model=None)
def replan_segment(
    request: Request, segment_id: SegmentId, principal: Editor, session: WriteSession
) -> Response:
    return _segment_action(request, session, principal, segment_id, "replan")


@router.post("/segments/{segment_id}/reassemble", response_model=None)
def reassemble_segment(
    request: Request, segment_id: SegmentId, principal: Editor, session: WriteSession
) -> Response:
    return _segment_action(request, session, principal, segment_id, "reassemble")


@router.get("/aired")
def aired_page(
    request: Request,
    principal: Editor,
    session: ReadSession,
    days: Annotated[int, Query(ge=1, le=366)] = 7,
) -> HTMLResponse:
    now = app_context(request).now()
    rows = radio_view.latest_aired(session, now, days)
    return render(request, "aired.html", {"rows": rows, "days": days})


def _stations_page(
    request: Request,
    session: Session,
    *,
    done: str = "",
    error: str = "",
    form: dict[str, str] | None = None,
) -> HTMLResponse:
    return render(
        request,
        "stations.html",
        {
            "stations": stations.list_stations(session),
            "programmes": list(session.scalars(select(Programme).order_by(Programme.slug))),
            "districts": list(session.scalars(select(District).order_by(District.name))),
            "done": done if done in DONE else "",
            "error": error,
            "form": form or {"timezone": app_context(request).settings.timezone},
        },
        status_code=422 if error else 200,
    )


@router.get("/stations")
def stations_page(
    request: Request,
    principal: Admin,
    session: ReadSession,
    done: Annotated[str, Query(max_length=40)] = "",
) -> HTMLResponse:
    return _stations_page(request, session, done=done)


def _key_page(request: Request, session: Session, slug: str, key: str, fresh: bool) -> Response:
    station = stations.get_station(session, slug)
    urls = radio_view.feed_urls(public_base(request), key, [p.slug for p in station.programmes])
    return render(
        request,
        "station_key.html",
        {
            "station": station,
            "key": key,
            "urls": urls,
            "fresh": fresh,
            "public_url": app_context(request).settings.radio.public_url,
        },
    )


@router.post("/stations", response_model=None)
def add_station(
    request: Request,
    principal: Admin,
    session: WriteSession,
    slug: FormText,
    name: FormText,
    timezone: FormText = "WIB",
    district_code: FormText = "",
    programme: Annotated[list[Annotated[str, Clean]] | None, Form()] = None,
) -> Response:
    now = app_context(request).now()
    chosen = [p[:64] for p in programme or []][:50]
    try:
        with session.begin_nested():
            station, key = stations.create_station(
                session,
                slug=slug.strip(),
                name=name,
                timezone=timezone,
                now=now,
                district_code=district_code or None,
            )
            for item in chosen:
                schedule.attach_station(session, item, station.slug)
    except (InvalidContent, NotFound) as exc:
        form = {"slug": slug, "name": name, "timezone": timezone, "district_code": district_code}
        return _stations_page(request, session, error=str(from_broadcast(exc)), form=form)
    radio_view.station_audit(
        session,
        principal,
        "create",
        station,
        now=now,
        source=client_address(request),
        programmes=sorted(chosen),
    )
    session.flush()
    return _key_page(request, session, station.slug, key, fresh=True)


@router.post("/stations/{station}/programmes")
def attach_programme(
    request: Request, station: Slug, principal: Admin, session: WriteSession, programme: FormSlug
) -> RedirectResponse:
    schedule.attach_station(session, programme, station)
    radio_view.station_audit(
        session,
        principal,
        "attach",
        stations.get_station(session, station),
        now=app_context(request).now(),
        source=client_address(request),
        programme=programme,
    )
    return RedirectResponse("/stations?done=attach", status_code=303)


@router.post("/stations/{station}/programmes/{programme}/remove")
def detach_programme(
    request: Request, station: Slug, programme: Slug, principal: Admin, session: WriteSession
) -> RedirectResponse:
    schedule.detach_station(session, programme, station)
    radio_view.station_audit(
        session,
        principal,
        "detach",
        stations.get_station(session, station),
        now=app_context(request).now(),
        source=client_address(request),
        programme=programme,
    )
    return RedirectResponse("/stations?done=detach", status_code=303)


@router.post("/stations/{station}/key")
def new_station_key(
    request: Request, station: Slug, principal: Admin, session: WriteSession
) -> Response:
    """Shows the new key in this answer only."""
    key = stations.new_key(session, station)
    found = stations.get_station(session, station)
    radio_view.station_audit(
        session,
        principal,
        "new_key",
        found,
        now=app_context(request).now(),
        source=client_address(request),
        key_prefix=found.api_key_prefix,
    )
    return _key_page(request, session, station, key, fresh=False)


@router.post("/stations/{station}/deactivate")
def deactivate_station(
    request: Request, station: Slug, principal: Admin, session: WriteSession
) -> RedirectResponse:
    found = stations.deactivate(session, station)
    radio_view.station_audit(
        session,
        principal,
        "deactivate",
        found,
        now=app_context(request).now(),
        source=client_address(request),
    )
    return RedirectResponse("/stations?done=deactivate", status_code=303)
