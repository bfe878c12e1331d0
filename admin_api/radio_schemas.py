"""Request and response bodies of the content, radio and station API (pydantic)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Path
from pydantic import AfterValidator, BaseModel, Field

from admin_api.content_view import ContentDetail, ContentRow, HistoryRow
from admin_api.params import PathId
from admin_api.radio_view import CueRow, SegmentRow
from core.models import ContentItem, Programme, Segment, Station
from core.states import ContentStatus

SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]*$"
ItemId = PathId
SegmentId = PathId
Slug = Annotated[str, Path(min_length=1, max_length=64, pattern=SLUG_PATTERN)]


def no_nul(value: str) -> str:
    """Refuse a NUL character (PostgreSQL cannot store one): a 422, not a 500."""
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    return value


def storable_moment(value: datetime | None) -> datetime | None:
    """A time the database can hold in UTC (years 1970 to 9999)."""
    if value is None or value.tzinfo is None:
        return value  # a naive time is refused by the library, naming the field
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise ValueError("out of range") from None
    if not 1970 <= utc.year <= 9999:
        raise ValueError("out of range: give a year from 1970")
    return value


Clean = AfterValidator(no_nul)
Moment = Annotated[datetime | None, AfterValidator(storable_moment)]


class ContentIn(BaseModel):
    slug: Annotated[str, Clean] = Field(
        max_length=120, description="stable across versions, e.g. fees-2026"
    )
    title: Annotated[str, Clean] = Field(max_length=400)
    topic: Annotated[str, Clean] = Field(max_length=64)
    language: Annotated[str, Clean] = Field("id", max_length=8)
    body_text: Annotated[str, Clean] = Field("", max_length=20_000)
    priority: bool = False
    valid_from: Moment = None
    valid_until: Moment = None


class ContentPatch(BaseModel):
    """Only the fields present change; ``valid_from``/``valid_until`` null clears them."""

    title: Annotated[str, Clean] | None = Field(None, max_length=400)
    topic: Annotated[str, Clean] | None = Field(None, max_length=64)
    language: Annotated[str, Clean] | None = Field(None, max_length=8)
    body_text: Annotated[str, Clean] | None = Field(None, max_length=20_000)
    priority: bool | None = None
    valid_from: Moment = None
    valid_until: Moment = None


class RejectIn(BaseModel):
    comment: Annotated[str, Clean] = Field(min_length=1, max_length=5000)


class RetireIn(BaseModel):
    reason: Annotated[str, Clean] = Field("", max_length=2000)


class ContentOut(BaseModel):
    id: int
    slug: str
    version: int
    status: ContentStatus
    title: str
    topic: str
    language: str
    body_text: str
    priority: bool
    valid_from: datetime | None
    valid_until: datetime | None
    author_id: int | None
    author: str
    approved_by_id: int | None
    approved_at: datetime | None
    submitted_at: datetime | None
    review_comment: str | None
    has_recording: bool
    duration_s: float | None
    # Approved and retired versions never change.
    immutable: bool
    # The version of this slug that the hotline and the radio play now.
    on_air_version: int | None
    # The caller may approve it now (four eyes: never her own version).
    can_approve: bool
    audio_url: str
    created_at: datetime
    updated_at: datetime


class VersionOut(BaseModel):
    id: int
    version: int
    status: ContentStatus
    approved_at: datetime | None


class HistoryOut(BaseModel):
    at: datetime
    actor_id: int | None
    actor: str
    action: str
    details: dict[str, Any]


class ContentDetailOut(ContentOut):
    versions: list[VersionOut]
    history: list[HistoryOut]


def _content(
    item: ContentItem, author: str, on_air: int | None, can_approve: bool
) -> dict[str, Any]:
    return {
        "id": item.id,
        "slug": item.slug,
        "version": item.version,
        "status": item.status,
        "title": item.title,
        "topic": item.topic,
        "language": item.language,
        "body_text": item.body_text,
        "priority": item.priority,
        "valid_from": item.valid_from,
        "valid_until": item.valid_until,
        "author_id": item.author_id,
        "author": author,
        "approved_by_id": item.approved_by_id,
        "approved_at": item.approved_at,
        "submitted_at": item.submitted_at,
        "review_comment": item.review_comment,
        "has_recording": item.audio_path is not None,
        "duration_s": item.duration_s,
        "immutable": item.status in (ContentStatus.approved, ContentStatus.retired),
        "on_air_version": on_air,
        "can_approve": can_approve,
        "audio_url": f"/api/v1/content/{item.id}/audio",
        "created_at": item.created_at,
        "updated_at": item.updated_at,
    }


def content_out(row: ContentRow) -> ContentOut:
    return ContentOut(**_content(row.item, row.author, row.on_air_version, row.needs_my_review))


def history_out(row: HistoryRow) -> HistoryOut:
    return HistoryOut(
        at=row.at, actor_id=row.actor_id, actor=row.actor, action=row.action, details=row.details
    )


def detail_out(detail: ContentDetail) -> ContentDetailOut:
    return ContentDetailOut(
        **_content(detail.item, detail.author, detail.on_air_version, detail.can_approve),
        versions=[
            VersionOut(id=v.id, version=v.version, status=v.status, approved_at=v.approved_at)
            for v in detail.versions
        ],
        history=[history_out(h) for h in detail.history],
    )


class SlotOut(BaseModel):
    id: int
    rrule: str
    dtstart_local: str
    timezone: str
    # The rule in words ("every Monday and Thursday 19:00 WITA"), when it is a common one.
    description: str | None


class ProgrammeOut(BaseModel):
    id: int
    slug: str
    name: str
    language: str
    target_duration_s: int
    topics: list[str]
    repeat_window_days: int
    is_active: bool
    stations: list[str]
    slots: list[SlotOut]


def programme_out(programme: Programme, describe: Any) -> ProgrammeOut:
    return ProgrammeOut(
        id=programme.id,
        slug=programme.slug,
        name=programme.name,
        language=programme.language,
        target_duration_s=programme.target_duration_s,
        topics=[str(t) for t in programme.topics or []],
        repeat_window_days=programme.repeat_window_days,
        is_active=programme.is_active,
        stations=sorted(s.slug for s in programme.stations),
        slots=[
            SlotOut(
                id=s.id,
                rrule=s.rrule,
                dtstart_local=s.dtstart_local,
                timezone=s.timezone,
                description=describe(s.rrule, s.dtstart_local, s.timezone),
            )
            for s in programme.slots
        ],
    )


class CueOut(BaseModel):
    kind: str
    offset_s: float
    duration_s: float
    title: str
    content_id: int | None
    slug: str


class SegmentOut(BaseModel):
    """A segment, or (``id`` null, status ``unplanned``) an air time not planned yet."""

    id: int | None
    programme: str
    air_at: datetime
    timezone: str
    status: str
    progress: float | None
    duration_s: float | None
    error: str | None
    items: int
    audio_url: str | None


def segment_out(row: SegmentRow) -> SegmentOut:
    s = row.segment
    return SegmentOut(
        id=s.id if s else None,
        programme=row.programme.slug,
        air_at=row.air_at,
        timezone=row.timezone,
        status=row.status,
        progress=s.progress if s else None,
        duration_s=s.duration_s if s else None,
        error=s.error if s else None,
        items=len(s.planned_content_ids) if s else 0,
        audio_url=f"/api/v1/radio/segments/{s.id}/audio" if s and row.playable else None,
    )


class AiredOut(BaseModel):
    station: str
    programme: str
    segment_id: int
    air_at: datetime
    aired_at: datetime
    reported_at: datetime


class SegmentDetailOut(SegmentOut):
    sha256: str | None
    assembled_at: datetime | None
    cue_sheet: list[CueOut]
    aired: list[AiredOut]


def segment_detail_out(
    segment: Segment, row: SegmentRow, cues: list[CueRow], aired: list[AiredOut]
) -> SegmentDetailOut:
    return SegmentDetailOut(
        **segment_out(row).model_dump(),
        sha256=segment.sha256,
        assembled_at=segment.assembled_at,
        cue_sheet=[
            CueOut(
                kind=c.kind,
                offset_s=c.offset_s,
                duration_s=c.duration_s,
                title=c.title,
                content_id=c.content_id,
                slug=c.slug,
            )
            for c in cues
        ],
        aired=aired,
    )


class ChangedOut(BaseModel):
    segment_id: int
    status: str
    # False when the planner chose the same items again (nothing changed).
    changed: bool


class StationIn(BaseModel):
    slug: Annotated[str, Clean] = Field(max_length=64, description="e.g. radio-lotim")
    name: Annotated[str, Clean] = Field(max_length=120)
    timezone: Annotated[str, Clean] = Field(
        "WIB", max_length=64, description="WIB, WITA, WIT or an IANA name"
    )
    district_code: Annotated[str, Clean] | None = Field(None, max_length=16)
    programmes: list[Annotated[str, Field(max_length=64, pattern=SLUG_PATTERN)]] = Field(
        default=[], max_length=50
    )


class StationOut(BaseModel):
    id: int
    slug: str
    name: str
    timezone: str
    district_id: int | None
    is_active: bool
    key_prefix: str
    programmes: list[str]
    created_at: datetime
    last_seen_at: datetime | None


class StationKeyOut(BaseModel):
    """The key is shown here once; only its hash is kept."""

    station: StationOut
    key: str
    # Per programme slug (and "" for the station-wide ones): the URLs to paste into a
    # playout system.
    urls: dict[str, dict[str, str]]


def station_out(station: Station) -> StationOut:
    return StationOut(
        id=station.id,
        slug=station.slug,
        name=station.name,
        timezone=station.timezone,
        district_id=station.district_id,
        is_active=station.is_active,
        key_prefix=station.api_key_prefix,
        programmes=sorted(p.slug for p in station.programmes),
        created_at=station.created_at,
        last_seen_at=station.last_seen_at,
    )
