"""Programmes, slots and the scheduler task that plans segments ahead of air time.

:func:`schedule_segments` runs every few minutes in the scheduler process. For every
active programme it plans the air times in the next ``DESBUMI_RADIO__LOOKAHEAD_H`` hours
(:func:`broadcasts.planner.plan`), stores each as a ``planned`` Segment and queues its
``broadcasts.assemble`` job in the same transaction. A segment that is not on air yet and
carries an item that stopped being playable (retired, expired) is planned again and
rebuilt, so a withdrawn message never reaches a station or the hotline.
"""

from __future__ import annotations

import hashlib
import logging
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from audio.errors import AudioError
from audio.ffmpeg import convert_to_master
from audio.ffprobe import probe_media
from audio.jingle import JINGLE_S
from broadcasts.errors import InvalidContent, NotFound, SegmentStateError
from broadcasts.library import RENDER_KIND, unrendered
from broadcasts.planner import (
    LibraryItem,
    ProgrammeSpec,
    SegmentPlan,
    SlotSpec,
    parse_rule,
    plan,
    repeat_history,
)
from core import queue
from core.models import ContentItem, Job, Programme, Segment, Slot, Station
from core.periodic import PeriodicTask
from core.settings import RadioSettings, Settings, resolve_timezone
from core.states import ContentStatus, JobState, SegmentStatus, check_transition

logger = logging.getLogger(__name__)

ASSEMBLE_KIND: Final = "broadcasts.assemble"
# espeak-ng's Indonesian voice speaks about this many words a second (measured).
WORDS_PER_S = 2.6
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_OPEN = (SegmentStatus.planned, SegmentStatus.assembling, SegmentStatus.ready, SegmentStatus.failed)


@dataclass(frozen=True)
class ScheduleReport:
    planned: int
    replanned: int
    empty: int


def get_programme(session: Session, slug: str) -> Programme:
    programme = session.scalar(select(Programme).where(Programme.slug == slug))
    if programme is None:
        raise NotFound(f"no programme {slug!r}")
    return programme


def create_programme(
    session: Session,
    *,
    slug: str,
    name: str,
    now: datetime,
    language: str = "id",
    target_duration_s: int = 600,
    topics: Sequence[str] = (),
    repeat_window_days: int = 7,
    intro_text: str = "",
    outro_text: str = "",
    description: str = "",
) -> Programme:
    """A new programme (no slots yet); raise InvalidContent naming a wrong field."""
    if not _SLUG.match(slug):
        raise InvalidContent("slug: lower-case letters, digits and '-', e.g. kabar-migran")
    if session.scalar(select(Programme.id).where(Programme.slug == slug)) is not None:
        raise InvalidContent(f"slug: programme {slug!r} exists already")
    if not 30 <= target_duration_s <= 4 * 3600:
        raise InvalidContent("target_duration_s: between 30 s and 4 hours")
    if not name.strip():
        raise InvalidContent("name: give the programme a name")
    programme = Programme(
        slug=slug,
        name=name.strip(),
        language=language,
        target_duration_s=target_duration_s,
        topics=list(topics),
        repeat_window_days=max(0, repeat_window_days),
        intro_text=intro_text.strip(),
        outro_text=outro_text.strip(),
        description=description.strip(),
        created_at=now,
    )
    session.add(programme)
    session.flush()
    return programme


def add_slot(
    session: Session, programme_slug: str, *, rrule: str, dtstart_local: str, timezone: str
) -> Slot:
    """A recurring air time, checked by expanding it; ``timezone`` may be WIB/WITA/WIT."""
    programme = get_programme(session, programme_slug)
    try:
        zone = resolve_timezone(timezone)
    except ValueError as exc:
        raise InvalidContent(f"timezone: {exc}") from None
    spec = SlotSpec(0, programme.id, rrule.strip(), dtstart_local.strip(), zone)
    parse_rule(spec)
    slot = Slot(
        programme_id=programme.id, rrule=spec.rrule, dtstart_local=spec.dtstart_local, timezone=zone
    )
    session.add(slot)
    session.flush()
    return slot


def remove_slot(session: Session, slot_id: int, *, now: datetime) -> int:
    """Delete a slot; its segments not yet aired are cancelled. Returns how many."""
    slot = session.get(Slot, slot_id)
    if slot is None:
        raise NotFound(f"no slot {slot_id}")
    cancelled = 0
    for segment in session.scalars(
        select(Segment).where(Segment.slot_id == slot_id, Segment.status.in_(_OPEN))
    ):
        _move(segment, SegmentStatus.cancelled, now)
        cancelled += 1
    for segment in session.scalars(select(Segment).where(Segment.slot_id == slot_id)):
        segment.slot_id = None
    session.delete(slot)
    session.flush()
    return cancelled


def set_jingle(session: Session, settings: Settings, programme_slug: str, upload: Path) -> float:
    """Make an uploaded sound (any format ffmpeg reads, at most 60 s) the programme's
    jingle, converted to the radio master; returns its length. Without one, a jingle is
    synthesised with sox."""
    programme = get_programme(session, programme_slug)
    try:
        info = probe_media(settings.ffprobe, upload)
    except AudioError as exc:
        raise InvalidContent(f"jingle: {exc}") from None
    if info.duration_s > 60:
        raise InvalidContent(f"jingle: {info.duration_s:.0f} s long; at most 60 s")
    relative = Path("programmes") / programme.slug / "jingle.wav"
    folder = settings.data_dir / relative.parent
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        try:
            convert_to_master(settings.ffmpeg, upload, Path(tmp) / "jingle.wav", Path(tmp) / "p")
        except AudioError as exc:
            raise InvalidContent(f"jingle: {exc}") from None
        (Path(tmp) / "jingle.wav").replace(settings.data_dir / relative)
    programme.jingle_path = str(relative)
    return info.duration_s


def attach_station(session: Session, programme_slug: str, station_slug: str) -> None:
    """Let a station pull a programme (idempotent)."""
    programme = get_programme(session, programme_slug)
    station = session.scalar(select(Station).where(Station.slug == station_slug))
    if station is None:
        raise NotFound(f"no station {station_slug!r}")
    if station not in programme.stations:
        programme.stations.append(station)


def detach_station(session: Session, programme_slug: str, station_slug: str) -> None:
    """Stop a station pulling a programme (idempotent); its feeds lose it at once."""
    programme = get_programme(session, programme_slug)
    station = session.scalar(select(Station).where(Station.slug == station_slug))
    if station is None:
        raise NotFound(f"no station {station_slug!r}")
    if station in programme.stations:
        programme.stations.remove(station)


def replan_segment(session: Session, settings: Settings, segment_id: int, now: datetime) -> bool:
    """Choose the items of a segment not yet on air again, from the library as it is now
    (e.g. after new content was approved), and queue its assembly. Returns False when
    the planner chose the same items (nothing changes).

    Raises :class:`SegmentStateError` for a segment that aired, was cancelled, whose air
    time passed or was removed, or for which no playable content is left.
    """
    segment = _open_segment(session, segment_id, now)
    slot = session.get(Slot, segment.slot_id) if segment.slot_id else None
    if slot is None:
        raise SegmentStateError("its air time was removed; nothing to plan")
    programme = segment.programme
    others = [
        s
        for s in session.scalars(
            select(Segment).where(
                Segment.programme_id == programme.id,
                Segment.air_at >= segment.air_at - timedelta(days=programme.repeat_window_days),
                Segment.status != SegmentStatus.cancelled,
                Segment.id != segment.id,
            )
        )
    ]
    slugs: dict[int, str] = {
        row.id: row.slug
        for row in session.execute(
            select(ContentItem.id, ContentItem.slug).where(
                ContentItem.id.in_({i for s in others for i in s.planned_content_ids})
            )
        )
    }
    history = repeat_history(
        [(s.programme_id, list(s.planned_content_ids), s.air_at) for s in others], slugs
    )
    spec = SlotSpec(slot.id, programme.id, slot.rrule, slot.dtstart_local, slot.timezone)
    fresh = plan(
        [programme_spec(programme, settings.radio)],
        [spec],
        library_items(session, now),
        history,
        segment.air_at,
        timedelta(seconds=1),
    )
    ids = list(fresh[0].content_ids) if fresh else []
    if not ids:
        raise SegmentStateError("no playable content for this air time; approve some first")
    if ids == [int(i) for i in segment.planned_content_ids]:
        return False
    segment.planned_content_ids = ids
    segment.error = None
    segment.updated_at = now
    if segment.status in (SegmentStatus.ready, SegmentStatus.failed):
        _move(segment, SegmentStatus.assembling, now)
    _enqueue(session, segment, now)
    logger.info("segment_id=%s planned again by an editor", segment.id)
    return True


def reassemble_segment(session: Session, segment_id: int, now: datetime) -> None:
    """Build a failed segment again with the same plan (its dead job is queued again).

    Raises :class:`SegmentStateError` unless the segment failed and is not on air yet.
    """
    segment = _open_segment(session, segment_id, now)
    if segment.status is not SegmentStatus.failed:
        raise SegmentStateError(f"only a failed segment is assembled again; it is {segment.status}")
    if not segment.planned_content_ids:
        raise SegmentStateError("it has no items; plan it again instead")
    _move(segment, SegmentStatus.assembling, now)
    segment.error = None
    segment.progress = 0.0
    key = f"{ASSEMBLE_KIND}:{segment.id}:{plan_digest(segment.planned_content_ids)}"
    job = session.scalar(select(Job).where(Job.unique_key == key))
    if job is not None and job.state is JobState.dead:
        queue.retry_dead(session, job.id, now=now)
    elif job is None:
        _enqueue(session, segment, now)
    logger.info("segment_id=%s queued for assembly again by an editor", segment.id)


def _open_segment(session: Session, segment_id: int, now: datetime) -> Segment:
    segment = session.get(Segment, segment_id)
    if segment is None:
        raise NotFound(f"no segment {segment_id}")
    if segment.status not in _OPEN:
        raise SegmentStateError(f"the segment is {segment.status}; it cannot change")
    if segment.air_at <= now:
        raise SegmentStateError("its air time has passed")
    return segment


def programme_spec(programme: Programme, radio: RadioSettings) -> ProgrammeSpec:
    """The planner's view: the frame around the items is two jingles, the spoken intro and
    outro (estimated from their words) and the gaps between them."""
    spoken = [t for t in (programme.intro_text, programme.outro_text) if t]
    frame_parts = 2 + len(spoken)
    join = -radio.crossfade_ms / 1000 if radio.crossfade_ms else radio.gap_s
    frame = 2 * JINGLE_S + sum(len(t.split()) / WORDS_PER_S + 0.6 for t in spoken)
    frame += (frame_parts - 1) * join
    return ProgrammeSpec(
        id=programme.id,
        language=programme.language,
        target_duration_s=float(programme.target_duration_s),
        topics=tuple(programme.topics or ()),
        repeat_window_days=programme.repeat_window_days,
        frame_s=frame,
        gap_s=join,
    )


def library_items(session: Session, now: datetime) -> list[LibraryItem]:
    """Approved versions not expired at ``now`` whose radio audio is ready."""
    rows = session.scalars(
        select(ContentItem).where(
            ContentItem.status == ContentStatus.approved,
            ContentItem.duration_s.is_not(None),
            (ContentItem.valid_until.is_(None)) | (ContentItem.valid_until > now),
        )
    )
    return [
        LibraryItem(
            id=r.id,
            slug=r.slug,
            version=r.version,
            topic=r.topic,
            language=r.language,
            status=r.status,
            duration_s=r.duration_s,
            priority=r.priority,
            valid_from=r.valid_from,
            valid_until=r.valid_until,
            approved_at=r.approved_at,
        )
        for r in rows
    ]


def queue_missing_renders(session: Session, now: datetime) -> int:
    """Queue synthesis for approved text items without radio audio (content approved
    outside :func:`broadcasts.library.approve`, e.g. demo data); once per item."""
    queued = 0
    for item_id in unrendered(session):
        key = f"{RENDER_KIND}:{item_id}"
        if session.scalar(select(Job.id).where(Job.unique_key == key)) is None:
            queue.enqueue(
                session, RENDER_KIND, {"content_item_id": item_id}, now=now, unique_key=key
            )
            queued += 1
    return queued


def schedule_segments(
    session: Session, settings: Settings, now: datetime, horizon: timedelta | None = None
) -> ScheduleReport:
    """Plan and queue the segments of the coming ``lookahead_h`` hours (or ``horizon``),
    and at least the next air time of every slot (the periodic task). Approved text items
    that were never synthesised get their synthesis queued first."""
    queue_missing_renders(session, now)
    radio = settings.radio
    horizon = horizon or timedelta(hours=radio.lookahead_h)
    programmes = list(
        session.scalars(
            select(Programme).where(Programme.is_active.is_(True)).order_by(Programme.id)
        )
    )
    if not programmes:
        return ScheduleReport(0, 0, 0)
    specs = [programme_spec(p, radio) for p in programmes]
    slots = [
        SlotSpec(s.id, s.programme_id, s.rrule, s.dtstart_local, s.timezone)
        for p in programmes
        for s in p.slots
    ]
    library = library_items(session, now)
    window = timedelta(days=max(p.repeat_window_days for p in programmes))
    segments = list(
        session.scalars(
            select(Segment).where(
                Segment.programme_id.in_([p.id for p in programmes]),
                Segment.air_at >= now - window,
                Segment.status != SegmentStatus.cancelled,
            )
        )
    )
    slugs: dict[int, str] = {
        row.id: row.slug
        for row in session.execute(
            select(ContentItem.id, ContentItem.slug).where(
                ContentItem.id.in_({i for s in segments for i in s.planned_content_ids})
            )
        )
    }
    replanned = 0
    playable = {i.id: i for i in library}
    upcoming = [s for s in segments if s.air_at >= now and s.status in _OPEN]
    history_rows = [
        (s.programme_id, list(s.planned_content_ids), s.air_at)
        for s in segments
        if s not in upcoming or _still_playable(s, playable)
    ]
    history = repeat_history(history_rows, slugs)
    for segment in upcoming:
        if _still_playable(segment, playable):
            continue
        spec = next(p for p in specs if p.id == segment.programme_id)
        fresh = plan(
            [spec],
            [x for x in slots if x.id == segment.slot_id],
            library,
            history,
            segment.air_at,
            timedelta(seconds=1),
        )
        ids = list(fresh[0].content_ids) if fresh else []
        segment.planned_content_ids = ids
        segment.error = None if ids else "no playable content left"
        segment.updated_at = now
        if segment.status in (SegmentStatus.ready, SegmentStatus.failed):
            _move(segment, SegmentStatus.assembling, now)
        if ids:
            _enqueue(session, segment, now)
        replanned += 1
        logger.info("segment_id=%s planned again: an item is no longer playable", segment.id)
    skip = [(s.programme_id, s.air_at) for s in segments if s.air_at >= now]
    plans = plan(specs, slots, library, history, now, horizon, skip=skip, include_next=True)
    created = empty = 0
    for planned in plans:
        if not planned.content_ids:
            empty += 1
            logger.warning(
                "programme_id=%s air_at=%s: no playable content to plan",
                planned.programme_id,
                planned.air_at.isoformat(),
            )
            continue
        segment = _new_segment(planned, now)
        session.add(segment)
        session.flush()
        _enqueue(session, segment, now)
        created += 1
        if planned.short_by_s:
            logger.warning(
                "segment_id=%s is %.0f s short of its target: the library is too small",
                segment.id,
                planned.short_by_s,
            )
    return ScheduleReport(created, replanned, empty)


def radio_tasks(settings: Settings) -> list[PeriodicTask]:
    """The scheduler's radio task: plan and queue segments every five minutes."""
    return [
        PeriodicTask(
            "broadcasts.schedule",
            300.0,
            lambda session, now: schedule_segments(session, settings, now),
        )
    ]


def _still_playable(segment: Segment, playable: dict[int, LibraryItem]) -> bool:
    return all(
        i in playable and playable[i].playable_at(segment.air_at)
        for i in segment.planned_content_ids
    )


def _new_segment(planned: SegmentPlan, now: datetime) -> Segment:
    return Segment(
        programme_id=planned.programme_id,
        slot_id=planned.slot_id,
        air_at=planned.air_at,
        status=SegmentStatus.planned,
        planned_content_ids=list(planned.content_ids),
        files={},
        cue_sheet=[],
        created_at=now,
        updated_at=now,
    )


def plan_digest(content_ids: Sequence[int]) -> str:
    """Names one plan of a segment: its assembly job builds that plan or nothing."""
    return hashlib.sha256(repr([int(i) for i in content_ids]).encode()).hexdigest()[:16]


def _enqueue(session: Session, segment: Segment, now: datetime) -> None:
    digest = plan_digest(segment.planned_content_ids)
    queue.enqueue(
        session,
        ASSEMBLE_KIND,
        {"segment_id": segment.id, "plan": digest},
        now=now,
        unique_key=f"{ASSEMBLE_KIND}:{segment.id}:{digest}",
        max_attempts=3,
    )


def _move(segment: Segment, target: SegmentStatus, now: datetime) -> None:
    check_transition(segment.status, target)
    segment.status = target
    segment.updated_at = now
