"""Radio stations: their keys, what they may download, and the playout log.

A station holds one API key (``dsb_`` + 43 random characters). Only its SHA-256 and a
12-character prefix are stored; the key is shown once, when made. A station sees only
the programmes it is attached to: every look-up here is scoped by the station, and
anything else is "not found", so a key never learns of other stations' programmes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from broadcasts.errors import InvalidContent, NotFound, StationAuthFailed
from broadcasts.planner import SlotSpec, air_times
from core.models import Airplay, District, Programme, Segment, Station
from core.security import generate_api_key, verify_api_key
from core.settings import resolve_timezone
from core.states import SegmentStatus, check_transition

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
PUBLISHED = (SegmentStatus.ready, SegmentStatus.aired)
# A station's "last seen" is written at most this often (a feed poll is a read).
SEEN_EVERY = timedelta(minutes=5)
# latest.mp3 is the newest segment whose air time has come or comes within this.
LATEST_AHEAD = timedelta(hours=1)


@dataclass(frozen=True)
class AirTime:
    programme_slug: str
    air_at: datetime
    timezone: str
    segment_id: int | None
    status: str


def create_station(
    session: Session,
    *,
    slug: str,
    name: str,
    timezone: str,
    now: datetime,
    district_code: str | None = None,
) -> tuple[Station, str]:
    """A new station and its key (show the key once: it is not stored)."""
    if not _SLUG.match(slug):
        raise InvalidContent("slug: lower-case letters, digits and '-', e.g. radio-lotim")
    if session.scalar(select(Station.id).where(Station.slug == slug)) is not None:
        raise InvalidContent(f"slug: station {slug!r} exists already")
    try:
        zone = resolve_timezone(timezone)
    except ValueError as exc:
        raise InvalidContent(f"timezone: {exc}") from None
    district_id = None
    if district_code:
        district_id = session.scalar(select(District.id).where(District.code == district_code))
        if district_id is None:
            raise InvalidContent(f"district: no district with code {district_code!r}")
    key, prefix, key_hash = generate_api_key()
    station = Station(
        slug=slug,
        name=name.strip() or slug,
        timezone=zone,
        district_id=district_id,
        api_key_hash=key_hash,
        api_key_prefix=prefix,
        created_at=now,
    )
    session.add(station)
    session.flush()
    return station, key


def get_station(session: Session, slug: str) -> Station:
    station = session.scalar(select(Station).where(Station.slug == slug))
    if station is None:
        raise NotFound(f"no station {slug!r}")
    return station


def new_key(session: Session, slug: str) -> str:
    """Replace a station's key (the old one stops working at once); returns the new key."""
    station = get_station(session, slug)
    key, prefix, key_hash = generate_api_key()
    station.api_key_hash, station.api_key_prefix = key_hash, prefix
    station.is_active = True
    return key


def deactivate(session: Session, slug: str) -> Station:
    """Stop a station's key at once (it gets 401 like a wrong key); a new key
    (:func:`new_key`) makes it active again."""
    station = get_station(session, slug)
    station.is_active = False
    return station


def list_stations(session: Session) -> list[Station]:
    return list(session.scalars(select(Station).order_by(Station.slug)))


def authenticate(session: Session, key: str) -> Station:
    """The active station holding ``key``; :class:`StationAuthFailed` otherwise, always
    with the same message (wrong, unknown, revoked and malformed keys look alike)."""
    key = key.strip()
    if not key.startswith("dsb_") or len(key) > 100:
        raise StationAuthFailed("a valid station key is required")
    for station in session.scalars(select(Station).where(Station.api_key_prefix == key[:12])):
        if station.is_active and verify_api_key(station.api_key_hash, key):
            return station
    raise StationAuthFailed("a valid station key is required")


def mark_seen(session: Session, station_id: int, now: datetime) -> None:
    """Note that the station fetched something (at most every few minutes)."""
    station = session.get(Station, station_id)
    if station is not None and (
        station.last_seen_at is None or now - station.last_seen_at >= SEEN_EVERY
    ):
        station.last_seen_at = now


def station_programme(session: Session, station: Station, slug: str) -> Programme:
    """One of the station's programmes; NotFound for any other (theirs or nobody's)."""
    for programme in station.programmes:
        if programme.slug == slug:
            return programme
    raise NotFound(f"no programme {slug!r}")


def published_segments(session: Session, programme: Programme, *, limit: int = 30) -> list[Segment]:
    """Ready or aired segments of ``programme``, newest air time first."""
    return list(
        session.scalars(
            select(Segment)
            .where(Segment.programme_id == programme.id, Segment.status.in_(PUBLISHED))
            .order_by(Segment.air_at.desc())
            .limit(limit)
        )
    )


def latest_segment(session: Session, programme: Programme, now: datetime) -> Segment:
    """The newest published segment whose air time has come (or comes within the hour);
    before the programme's first air time, the next one."""
    published = (Segment.programme_id == programme.id, Segment.status.in_(PUBLISHED))
    segment = session.scalar(
        select(Segment)
        .where(*published, Segment.air_at <= now + LATEST_AHEAD)
        .order_by(Segment.air_at.desc())
        .limit(1)
    )
    if segment is None:
        segment = session.scalar(
            select(Segment).where(*published).order_by(Segment.air_at).limit(1)
        )
    if segment is None:
        raise NotFound(f"no segment of {programme.slug} is ready yet")
    return segment


def station_segment(session: Session, station: Station, segment_id: int) -> Segment:
    """A published segment of one of the station's programmes; NotFound otherwise."""
    segment = session.get(Segment, segment_id)
    allowed = {p.id for p in station.programmes}
    if segment is None or segment.programme_id not in allowed or segment.status not in PUBLISHED:
        raise NotFound(f"no segment {segment_id}")
    return segment


def upcoming(
    session: Session, programmes: Sequence[Programme], now: datetime, days: int
) -> list[AirTime]:
    """Air times of ``programmes`` in the next ``days`` days, with the segment if planned."""
    end = now + timedelta(days=days)
    segments = {
        (s.programme_id, s.air_at): s
        for s in session.scalars(
            select(Segment).where(
                Segment.programme_id.in_([p.id for p in programmes]),
                Segment.air_at >= now,
                Segment.air_at < end,
                Segment.status != SegmentStatus.cancelled,
            )
        )
    }
    result = []
    for programme in programmes:
        for slot in programme.slots:
            spec = SlotSpec(slot.id, programme.id, slot.rrule, slot.dtstart_local, slot.timezone)
            for moment in air_times(spec, now, end):
                segment = segments.get((programme.id, moment))
                result.append(
                    AirTime(
                        programme.slug,
                        moment,
                        slot.timezone,
                        segment.id if segment and segment.status in PUBLISHED else None,
                        str(segment.status) if segment else "not planned yet",
                    )
                )
    return sorted(result, key=lambda a: (a.air_at, a.programme_slug))


def record_airplay(
    session: Session, station: Station, segment_id: int, aired_at: datetime, now: datetime
) -> tuple[Airplay, bool]:
    """A station's "aired at" for one of its segments; the same report twice is one.

    Returns the airplay and whether it is new. Raises NotFound for a segment that is not
    the station's, InvalidContent for a time in the future.
    """
    if aired_at.tzinfo is None:
        raise InvalidContent("aired_at: give the time with its offset, e.g. 2026-12-03T19:00+08:00")
    if aired_at > now + timedelta(minutes=5):
        raise InvalidContent("aired_at: is in the future")
    segment = station_segment(session, station, segment_id)
    existing = session.scalar(
        select(Airplay).where(
            Airplay.segment_id == segment.id,
            Airplay.station_id == station.id,
            Airplay.aired_at == aired_at,
        )
    )
    if existing is not None:
        return existing, False
    airplay = Airplay(
        segment_id=segment.id, station_id=station.id, aired_at=aired_at, reported_at=now
    )
    session.add(airplay)
    segment.status = check_transition(segment.status, SegmentStatus.aired)
    segment.updated_at = now
    session.flush()
    return airplay, True


@dataclass(frozen=True)
class AirplayRow:
    station: str
    programme: str
    segment_id: int
    air_at: datetime
    aired_at: datetime
    reported_at: datetime


def airplay_log(session: Session, since: datetime) -> list[AirplayRow]:
    """What stations reported as aired since ``since``, newest first (for editors)."""
    rows = session.execute(
        select(Airplay, Station.slug, Programme.slug, Segment.air_at)
        .join(Station, Station.id == Airplay.station_id)
        .join(Segment, Segment.id == Airplay.segment_id)
        .join(Programme, Programme.id == Segment.programme_id)
        .where(Airplay.aired_at >= since)
        .order_by(Airplay.aired_at.desc())
    )
    return [
        AirplayRow(
            station, programme, airplay.segment_id, air_at, airplay.aired_at, airplay.reported_at
        )
        for airplay, station, programme, air_at in rows
    ]
