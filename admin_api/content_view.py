"""What the editors' pages and API show of the content library, read through
:mod:`broadcasts.library` (which owns every rule and writes every audit event).

The list puts first what needs *her* review (submitted by someone else, so the four-eyes
rule lets her approve it), then her own drafts sent back with a comment, then the rest.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from admin_api.auth import Principal
from admin_api.errors import Invalid, NotFound
from audio.errors import AudioError
from audio.ffmpeg import run_ffmpeg
from audio.tts import VOICES
from broadcasts import library
from broadcasts.errors import RecordingRejected
from core.models import AuditEvent, ContentItem, User
from core.settings import Settings
from core.states import ContentStatus

IMMUTABLE = (ContentStatus.approved, ContentStatus.retired)
# Languages an item can be written in; others need a recording (no synthetic voice).
LANGUAGES = ("id", "ms", "jv", "su", "sas")


@dataclass(frozen=True)
class ContentRow:
    """One slug in the list: its newest version and what the reader should do with it."""

    item: ContentItem
    author: str
    # The version of this slug that plays now (hotline and radio), if any.
    on_air_version: int | None
    # Submitted by someone else: she may approve or reject it.
    needs_my_review: bool
    # Her own draft that a reviewer sent back with a comment.
    sent_back_to_me: bool

    @property
    def rank(self) -> int:
        if self.needs_my_review:
            return 0
        if self.sent_back_to_me:
            return 1
        order = (ContentStatus.draft, ContentStatus.in_review, ContentStatus.approved)
        return 2 + (order.index(self.item.status) if self.item.status in order else 3)


@dataclass(frozen=True)
class HistoryRow:
    at: datetime
    actor: str
    actor_id: int | None
    action: str
    details: dict[str, Any]


@dataclass(frozen=True)
class ContentDetail:
    item: ContentItem
    author: str
    approved_by: str
    versions: list[ContentItem]
    history: list[HistoryRow]
    can_approve: bool
    # In review, she is an editor, but she wrote or edited this version (four eyes).
    own_version: bool
    playable_now: bool
    on_air_version: int | None
    # A draft or an item in review of this slug exists (no new version until it is done).
    open_version: ContentItem | None
    has_voice: bool
    users: dict[int, str] = field(default_factory=dict)

    @property
    def immutable(self) -> bool:
        return self.item.status in IMMUTABLE


def attribute_events(session: Session, source: str, via: Callable[[], str]) -> None:
    """Give the content library's audit events of this transaction the request's address
    and channel (``via``: "session" or "token"). The library records who, what and when;
    only the edge knows from where."""

    def stamp(session: Session, _context: object, _instances: object) -> None:
        for row in session.new:
            if isinstance(row, AuditEvent) and row.object_type == "content_item" and not row.source:
                row.source = source[:64]
                row.details = {"via": via(), **dict(row.details)}

    event.listen(session, "before_flush", stamp)


def user_names(session: Session) -> dict[int, str]:
    return {u.id: u.full_name or u.username for u in session.scalars(select(User))}


def _on_air(session: Session, now: datetime) -> dict[str, int]:
    return {i.slug: i.version for i in library.playable_items(session, now)}


def content_list(
    session: Session,
    principal: Principal,
    now: datetime,
    *,
    status: ContentStatus | None = None,
    topic: str | None = None,
    language: str | None = None,
) -> list[ContentRow]:
    """The newest version of every slug (filters apply to it), what needs her first."""
    names = user_names(session)
    on_air = _on_air(session, now)
    rows = []
    for item in library.list_items(session, status=status, topic=topic, language=language):
        reviewable = item.status is ContentStatus.in_review and library.can_approve(
            session, item.id, principal.user_id
        )
        rows.append(
            ContentRow(
                item=item,
                author=names.get(item.author_id or 0, ""),
                on_air_version=on_air.get(item.slug),
                needs_my_review=reviewable,
                sent_back_to_me=item.status is ContentStatus.draft
                and bool(item.review_comment)
                and item.author_id == principal.user_id,
            )
        )
    rows.sort(key=lambda r: (r.rank, -r.item.updated_at.timestamp(), r.item.slug))
    return rows


def content_detail(
    session: Session, principal: Principal, item_id: int, now: datetime
) -> ContentDetail:
    item = library.get_item(session, item_id)
    names = user_names(session)
    versions = library.versions(session, item.slug)
    can_approve = library.can_approve(session, item.id, principal.user_id)
    on_air = _on_air(session, now).get(item.slug)
    return ContentDetail(
        item=item,
        author=names.get(item.author_id or 0, ""),
        approved_by=names.get(item.approved_by_id or 0, ""),
        versions=versions,
        history=[history_row(e, names) for e in library.history(session, item.id)],
        can_approve=can_approve,
        own_version=item.status is ContentStatus.in_review and not can_approve,
        playable_now=on_air == item.version,
        on_air_version=on_air,
        open_version=next(
            (v for v in versions if v.status not in IMMUTABLE and v.id != item.id), None
        ),
        has_voice=item.language in VOICES,
        users=names,
    )


def history_row(event: AuditEvent, names: dict[int, str]) -> HistoryRow:
    details = {k: v for k, v in dict(event.details).items() if k not in ("slug", "version")}
    return HistoryRow(
        at=event.at,
        actor=names.get(event.actor_user_id or 0, event.actor_kind),
        actor_id=event.actor_user_id,
        action=event.action,
        details=details,
    )


def parse_local(text: str, timezone: str, field_name: str) -> datetime | None:
    """A ``datetime-local`` form value (``2026-12-01T19:00``) in ``timezone``; None if
    empty; Invalid naming the field otherwise."""
    text = text.strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=ZoneInfo(timezone))
        if not 1970 <= moment.astimezone(UTC).year <= 9999:
            raise ValueError("out of range")
    except (ValueError, OverflowError):
        raise Invalid(f"{field_name}: not a date and time like 2026-12-01T19:00") from None
    return moment


def local_input(moment: datetime | None, timezone: str) -> str:
    """The value for a ``datetime-local`` input showing ``moment`` in ``timezone``."""
    if moment is None:
        return ""
    return moment.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%dT%H:%M")


def preview_file(settings: Settings, item: ContentItem) -> Path:
    """What an editor hears for a version, as a small MP3 (64 kb/s mono: a minute is
    under half a megabyte on a slow connection): its radio audio (the converted recording,
    or the speech synthesised after approval), else the draft's text spoken now. Both the
    speech and the MP3 are cached, so a second listen costs nothing. NotFound when there
    is nothing to hear."""
    source: Path | None = None
    if item.radio_audio_path:
        candidate = settings.data_dir / item.radio_audio_path
        source = candidate if candidate.is_file() else None
    if source is None and item.audio_path is None and item.body_text and item.language in VOICES:
        source = library.preview_speech(settings, item.body_text, item.language)
    if source is None:
        raise NotFound("nothing to hear yet: write the text or upload a recording")
    return _mp3_copy(settings, source)


def _mp3_copy(settings: Settings, source: Path) -> Path:
    stat = source.stat()
    name = hashlib.sha256(f"{source}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()
    target = settings.data_dir / "cache" / "preview" / f"{name[:24]}.mp3"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part.mp3")
    try:
        run_ffmpeg(
            settings.ffmpeg,
            ["-i", str(source), "-ac", "1", "-c:a", "libmp3lame", "-b:a", "64k", str(partial)],
        )
    except AudioError as exc:
        partial.unlink(missing_ok=True)
        raise NotFound(f"the audio cannot be read: {exc}") from None
    # Renamed into place: a concurrent request never serves a half-written file.
    partial.replace(target)
    return target


def stage_upload(settings: Settings, stream: BinaryIO, name: str) -> Path:
    """Copy an uploaded file to a private temporary file under the data directory,
    refusing (without filling the disk) one larger than the upload limit. The caller
    removes the file."""
    limit = int(settings.radio.max_upload_mb * 1024 * 1024)
    folder = settings.data_dir / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(dir=folder, suffix=".upload", delete=False)
    path = Path(handle.name)
    try:
        with handle:
            copied = 0
            while chunk := stream.read(1 << 20):
                copied += len(chunk)
                if copied > limit:
                    raise RecordingRejected(
                        f"{Path(name).name or 'the file'} is larger than "
                        f"{settings.radio.max_upload_mb:.0f} MB (DESBUMI_RADIO__MAX_UPLOAD_MB)"
                    )
                handle.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def discard(path: Path) -> None:
    path.unlink(missing_ok=True)
