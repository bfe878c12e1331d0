"""The radio API: programmes and air times, segments with their cue sheets and audio,
re-plan / re-assemble, the playout log (editors and admins); stations (admins).

A new station key is in the answer once, with the feed URLs for the playout system;
only its hash is kept. Station changes and segment actions are audited here (the
broadcasts services do not audit them); keys never reach the audit log.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse
from sqlalchemy.orm import Session

from admin_api import audit, radio_view
from admin_api.access import api_principal, requires
from admin_api.auth import Principal
from admin_api.context import app_context, client_address, read_tx, write_tx
from admin_api.errors import NotFound
from admin_api.i18n import Translator
from admin_api.radio_schemas import (
    AiredOut,
    ChangedOut,
    ProgrammeOut,
    SegmentDetailOut,
    SegmentId,
    SegmentOut,
    Slug,
    StationIn,
    StationKeyOut,
    StationOut,
    programme_out,
    segment_detail_out,
    segment_out,
    station_out,
)
from admin_api.recurrence import describe
from broadcasts import schedule, stations
from core.states import UserRole

EDITORIAL = (UserRole.admin, UserRole.editor)
radio = APIRouter(prefix="/radio", tags=["radio"])
station_api = APIRouter(prefix="/stations", tags=["stations"])
Editor = Annotated[Principal, Depends(requires(api_principal, *EDITORIAL))]
Admin = Annotated[Principal, Depends(requires(api_principal, UserRole.admin))]
WriteSession = Annotated[Session, Depends(write_tx, scope="function")]
ReadSession = Annotated[Session, Depends(read_tx, scope="function")]
DaysQuery = Annotated[int, Query(ge=1, le=31)]
ERRORS: dict[int | str, dict[str, Any]] = {404: {}, 409: {}, 422: {}}


@radio.get("/programmes")
def list_programmes(principal: Editor, session: ReadSession) -> list[ProgrammeOut]:
    """Programmes with their air times (each RRULE also in words, in English)."""
    english = Translator("en")
    return [
        programme_out(p, lambda rule, start, zone: describe(english, rule, start, zone))
        for p in radio_view.programmes(session)
    ]


@radio.get("/segments")
def list_segments(
    request: Request, principal: Editor, session: ReadSession, days: DaysQuery = 7
) -> list[SegmentOut]:
    """Segments from a day ago to ``days`` ahead, and the air times not planned yet."""
    context = app_context(request)
    rows = radio_view.segment_rows(
        session, context.now(), days=days, default_zone=context.settings.timezone
    )
    return [segment_out(r) for r in rows]


def _segment_detail(request: Request, session: Session, segment_id: int) -> SegmentDetailOut:
    context = app_context(request)
    segment = radio_view.get_segment(session, segment_id)
    zone = radio_view.segment_zone(segment, context.settings.timezone)
    row = radio_view.SegmentRow(segment.programme, segment.air_at, zone, segment)
    aired = [
        AiredOut(
            station=a.station,
            programme=segment.programme.slug,
            segment_id=segment.id,
            air_at=segment.air_at,
            aired_at=a.aired_at,
            reported_at=a.reported_at,
        )
        for a in radio_view.segment_airplays(session, segment.id)
    ]
    return segment_detail_out(segment, row, radio_view.cue_rows(session, segment), aired)


@radio.get("/segments/{segment_id}", responses=ERRORS)
def get_segment(
    request: Request, segment_id: SegmentId, principal: Editor, session: ReadSession
) -> SegmentDetailOut:
    """One segment: state, progress, error, cue sheet (or the planned items), what aired."""
    return _segment_detail(request, session, segment_id)


@radio.get(
    "/segments/{segment_id}/audio",
    response_class=FileResponse,
    responses={200: {"content": {"audio/mpeg": {}}}, 206: {}, 404: {}, 416: {}},
)
def segment_audio(
    request: Request, segment_id: SegmentId, principal: Editor, session: ReadSession
) -> FileResponse:
    """The segment's MP3, with ``Range``."""
    segment = radio_view.get_segment(session, segment_id)
    relative = segment.files.get("mp3")
    path = app_context(request).settings.data_dir / relative if relative else None
    if path is None or not path.is_file():
        raise NotFound(f"segment {segment_id} has no audio yet")
    response = FileResponse(path, media_type="audio/mpeg")
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _segment_action(
    request: Request, session: Session, principal: Principal, segment_id: int, action: str
) -> ChangedOut:
    context = app_context(request)
    now = context.now()
    if action == "replan":
        changed = schedule.replan_segment(session, context.settings, segment_id, now)
    else:
        schedule.reassemble_segment(session, segment_id, now)
        changed = True
    segment = radio_view.get_segment(session, segment_id)
    audit.record(
        session,
        principal,
        f"segment.{action}",
        now=now,
        source=client_address(request),
        object_type="segment",
        object_id=segment_id,
        details={"changed": changed, "items": list(segment.planned_content_ids)},
    )
    return ChangedOut(segment_id=segment_id, status=str(segment.status), changed=changed)


@radio.post("/segments/{segment_id}/replan", responses=ERRORS)
def replan_segment(
    request: Request, segment_id: SegmentId, principal: Editor, session: WriteSession
) -> ChangedOut:
    """Choose the items again from the library as it is now, and rebuild (409 when the
    segment is on air already, aired, cancelled, or nothing playable is left)."""
    return _segment_action(request, session, principal, segment_id, "replan")


@radio.post("/segments/{segment_id}/reassemble", responses=ERRORS)
def reassemble_segment(
    request: Request, segment_id: SegmentId, principal: Editor, session: WriteSession
) -> ChangedOut:
    """Build a failed segment again with the same items."""
    return _segment_action(request, session, principal, segment_id, "reassemble")


@radio.get("/airplays")
def list_airplays(
    request: Request, principal: Editor, session: ReadSession, days: DaysQuery = 7
) -> list[AiredOut]:
    """The playout log: which station reported which segment as aired, newest first."""
    rows = radio_view.latest_aired(session, app_context(request).now(), days)
    return [
        AiredOut(
            station=r.station,
            programme=r.programme,
            segment_id=r.segment_id,
            air_at=r.air_at,
            aired_at=r.aired_at,
            reported_at=r.reported_at,
        )
        for r in rows
    ]


def public_base(request: Request) -> str:
    """Where stations reach this server: ``DESBUMI_RADIO__PUBLIC_URL`` or this request's."""
    public = app_context(request).settings.radio.public_url
    return public or str(request.base_url).rstrip("/")


@station_api.get("")
def list_stations(principal: Admin, session: ReadSession) -> list[StationOut]:
    """Stations with their programmes, key prefix and when they last fetched anything."""
    return [station_out(s) for s in stations.list_stations(session)]


def _keyed(request: Request, session: Session, slug: str, key: str) -> StationKeyOut:
    station = stations.get_station(session, slug)
    urls = radio_view.feed_urls(public_base(request), key, [p.slug for p in station.programmes])
    return StationKeyOut(station=station_out(station), key=key, urls=urls)


@station_api.post("", status_code=201, responses=ERRORS)
def add_station(
    request: Request, body: StationIn, principal: Admin, session: WriteSession
) -> StationKeyOut:
    """Add a station; its key is in this answer only, with the feed URLs."""
    now = app_context(request).now()
    station, key = stations.create_station(
        session,
        slug=body.slug,
        name=body.name,
        timezone=body.timezone,
        now=now,
        district_code=body.district_code or None,
    )
    for programme in body.programmes:
        schedule.attach_station(session, programme, station.slug)
    radio_view.station_audit(
        session,
        principal,
        "create",
        station,
        now=now,
        source=client_address(request),
        programmes=sorted(body.programmes),
    )
    session.flush()
    return _keyed(request, session, station.slug, key)


@station_api.put("/{station}/programmes/{programme}", responses=ERRORS)
def attach_programme(
    request: Request, station: Slug, programme: Slug, principal: Admin, session: WriteSession
) -> StationOut:
    """Let the station pull a programme (idempotent)."""
    schedule.attach_station(session, programme, station)
    found = stations.get_station(session, station)
    radio_view.station_audit(
        session,
        principal,
        "attach",
        found,
        now=app_context(request).now(),
        source=client_address(request),
        programme=programme,
    )
    return station_out(found)


@station_api.delete("/{station}/programmes/{programme}", responses=ERRORS)
def detach_programme(
    request: Request, station: Slug, programme: Slug, principal: Admin, session: WriteSession
) -> StationOut:
    """Stop the station pulling a programme (idempotent)."""
    schedule.detach_station(session, programme, station)
    found = stations.get_station(session, station)
    radio_view.station_audit(
        session,
        principal,
        "detach",
        found,
        now=app_context(request).now(),
        source=client_address(request),
        programme=programme,
    )
    return station_out(found)


@station_api.post("/{station}/key", responses=ERRORS)
def new_station_key(
    request: Request, station: Slug, principal: Admin, session: WriteSession
) -> StationKeyOut:
    """A new key (in this answer only); the old one stops working at once. Also makes a
    deactivated station active again."""
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
    return _keyed(request, session, station, key)


@station_api.post("/{station}/deactivate", responses=ERRORS)
def deactivate_station(
    request: Request, station: Slug, principal: Admin, session: WriteSession
) -> StationOut:
    """Stop the station's key at once (its feeds answer 401)."""
    found = stations.deactivate(session, station)
    radio_view.station_audit(
        session,
        principal,
        "deactivate",
        found,
        now=app_context(request).now(),
        source=client_address(request),
    )
    return station_out(found)
