"""What the radio pages and API show: programmes with their air times, the segments
around now (with the air times not planned yet), one segment with its cue sheet and
playout log, and the stations with their feed URLs.

The changes (re-plan, re-assemble, stations) are made by :mod:`broadcasts`; the functions
here that change anything write the audit event, since those services do not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from admin_api import audit
from admin_api.auth import Principal
from admin_api.errors import NotFound
from broadcasts import stations
from broadcasts.planner import SlotSpec, air_times
from core.models import Airplay, ContentItem, Programme, Segment, Station
from core.states import SegmentStatus


@dataclass(frozen=True)
class SegmentRow:
    """A segment, or an air time with no segment yet (``segment`` is None)."""

    programme: Programme
    air_at: datetime
    timezone: str
    segment: Segment | None

    @property
    def status(self) -> str:
        return str(self.segment.status) if self.segment else "unplanned"

    @property
    def playable(self) -> bool:
        return self.segment is not None and bool(self.segment.files.get("mp3"))


@dataclass(frozen=True)
class CueRow:
    kind: str
    offset_s: float
    duration_s: float
    title: str
    content_id: int | None
    slug: str
    version: int | None


@dataclass(frozen=True)
class AiredRow:
    station: str
    aired_at: datetime
    reported_at: datetime


def programmes(session: Session) -> list[Programme]:
    return list(session.scalars(select(Programme).order_by(Programme.slug)))


def programme_zone(programme: Programme, default: str) -> str:
    return programme.slots[0].timezone if programme.slots else default


def segment_rows(
    session: Session, now: datetime, *, days: int, past_days: int = 1, default_zone: str
) -> list[SegmentRow]:
    """Segments from ``past_days`` ago to ``days`` ahead (not the cancelled ones), and
    the air times in that window that have no segment yet; by air time."""
    start, end = now - timedelta(days=past_days), now + timedelta(days=days)
    found = list(
        session.scalars(
            select(Segment)
            .where(
                Segment.air_at >= start,
                Segment.air_at < end,
                Segment.status != SegmentStatus.cancelled,
            )
            .order_by(Segment.air_at)
        )
    )
    taken = {(s.programme_id, s.air_at) for s in found}
    rows = [
        SegmentRow(
            s.programme,
            s.air_at,
            _slot_zone(s, default_zone),
            s,
        )
        for s in found
    ]
    for programme in programmes(session):
        if not programme.is_active:
            continue
        for slot in programme.slots:
            spec = SlotSpec(slot.id, programme.id, slot.rrule, slot.dtstart_local, slot.timezone)
            for moment in air_times(spec, now, end):
                if (programme.id, moment) not in taken:
                    taken.add((programme.id, moment))
                    rows.append(SegmentRow(programme, moment, slot.timezone, None))
    return sorted(rows, key=lambda r: (r.air_at, r.programme.slug))


def _slot_zone(segment: Segment, default: str) -> str:
    for slot in segment.programme.slots:
        if slot.id == segment.slot_id:
            return slot.timezone
    return programme_zone(segment.programme, default)


def get_segment(session: Session, segment_id: int) -> Segment:
    segment = session.get(Segment, segment_id)
    if segment is None:
        raise NotFound(f"no segment {segment_id}")
    return segment


def segment_zone(segment: Segment, default: str) -> str:
    return _slot_zone(segment, default)


def cue_rows(session: Session, segment: Segment) -> list[CueRow]:
    """The cue sheet of a built segment; before it is built, the planned items."""
    if segment.cue_sheet:
        return [
            CueRow(
                kind=str(c.get("kind", "")),
                offset_s=float(c.get("offset_s", 0.0)),
                duration_s=float(c.get("duration_s", 0.0)),
                title=str(c.get("title", "")),
                content_id=c.get("content_id"),
                slug=str(c.get("slug", "")),
                version=c.get("version"),
            )
            for c in segment.cue_sheet
        ]
    ids = [int(i) for i in segment.planned_content_ids]
    items = {i.id: i for i in session.scalars(select(ContentItem).where(ContentItem.id.in_(ids)))}
    return [
        CueRow("item", 0.0, items[i].duration_s or 0.0, items[i].title, i, items[i].slug, None)
        for i in ids
        if i in items
    ]


def segment_airplays(session: Session, segment_id: int) -> list[AiredRow]:
    rows = session.execute(
        select(Airplay, Station.slug)
        .join(Station, Station.id == Airplay.station_id)
        .where(Airplay.segment_id == segment_id)
        .order_by(Airplay.aired_at)
    )
    return [AiredRow(slug, a.aired_at, a.reported_at) for a, slug in rows]


def feed_urls(base: str, key: str, programme_slugs: list[str]) -> dict[str, dict[str, str]]:
    """The URLs a station operator pastes into LibreTime/AzuraCast, per programme, and
    ``""`` for the station-wide ones."""
    root = f"{base.rstrip('/')}/radio/{key}"
    urls = {"": {"programmes": f"{root}/programmes.json", "schedule": f"{root}/schedule.json"}}
    for slug in sorted(programme_slugs):
        urls[slug] = {
            "rss": f"{root}/{slug}.xml",
            "m3u": f"{root}/{slug}.m3u",
            "pls": f"{root}/{slug}.pls",
            "latest": f"{root}/{slug}/latest.mp3",
            "schedule": f"{root}/{slug}/schedule.json",
        }
    return urls


def station_audit(
    session: Session,
    principal: Principal,
    action: str,
    station: Station,
    *,
    now: datetime,
    source: str,
    **details: object,
) -> None:
    """An audit event for a change to a station (never the key itself)."""
    audit.record(
        session,
        principal,
        f"station.{action}",
        now=now,
        source=source,
        object_type="station",
        object_id=station.id,
        details={"slug": station.slug, **details},
    )


def latest_aired(session: Session, now: datetime, days: int) -> list[stations.AirplayRow]:
    return stations.airplay_log(session, now - timedelta(days=days))
