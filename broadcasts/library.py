"""The content library: versioned safe-migration messages and their review.

One *item* is a ``slug``; each of its versions is a :class:`core.models.ContentItem` row
that moves ``draft -> in_review -> approved -> retired`` (:mod:`core.states`). Rules:

* only active editors and admins act on content;
* an editor other than everyone who wrote a version approves it (four eyes);
* a rejection sends it back to ``draft`` with the reviewer's comment;
* approved and retired versions never change (:class:`ContentImmutable`): to change an
  approved message, :func:`new_version` copies it into a new draft; approving that version
  retires the older approved one, so the hotline and the radio play one version of a slug;
* what plays is approved and inside its validity window: :meth:`ContentItem.playable_at`,
  the one predicate the hotline and the radio share.

A version speaks its ``body_text`` through the hotline's TTS, unless an uploaded recording
is attached (:func:`attach_recording`, any format ffmpeg reads, checked with ffprobe).
Either way the radio plays ``radio_audio_path`` (44.1 kHz mono WAV) of ``duration_s``:
converted at upload, or synthesised by the ``broadcasts.render_content`` job that approval
queues. Every function takes the Session, the acting user's id and ``now``, writes an
audit event and never commits: the caller owns the transaction.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from audio.errors import AudioError
from audio.ffmpeg import convert_to_master
from audio.ffprobe import probe_media
from audio.mastering import measure_loudness
from audio.tts import VOICES
from broadcasts.errors import (
    ContentImmutable,
    ContentStateError,
    InvalidContent,
    NotFound,
    NotPermitted,
    RecordingRejected,
)
from core import queue
from core.models import AuditEvent, ContentItem, User
from core.settings import Settings
from core.states import ContentStatus, UserRole, check_transition

RENDER_KIND: Final = "broadcasts.render_content"
CONTENT_DIR: Final = "content"
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,119}$")
_TOPIC = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}$")
_WRITE_ACTIONS = ("content.create", "content.edit", "content.recording", "content.new_version")


class _Unset(Enum):
    UNSET = "unset"


UNSET: Final = _Unset.UNSET
"""Leave a field of :func:`edit_draft` as it is (``None`` means "clear it")."""


@dataclass(frozen=True)
class RecordingLimits:
    """What an upload may be: at most ``max_bytes`` big, ``min_s`` to ``max_s`` long."""

    max_bytes: int
    min_s: float
    max_s: float

    @classmethod
    def from_settings(cls, settings: Settings) -> RecordingLimits:
        radio = settings.radio
        return cls(
            int(radio.max_upload_mb * 1024 * 1024), radio.min_recording_s, radio.max_recording_s
        )


def get_item(session: Session, item_id: int) -> ContentItem:
    """The version ``item_id``; raise :class:`NotFound`."""
    item = session.get(ContentItem, item_id)
    if item is None:
        raise NotFound(f"no content item {item_id}")
    return item


def list_items(
    session: Session,
    *,
    status: ContentStatus | None = None,
    topic: str | None = None,
    language: str | None = None,
    latest_only: bool = True,
) -> list[ContentItem]:
    """Content versions for the editors' list, by slug; with ``latest_only`` (default)
    only the newest version of each slug (filters apply to that version)."""
    query = select(ContentItem)
    if latest_only:
        newest = (
            select(ContentItem.slug, func.max(ContentItem.version).label("version"))
            .group_by(ContentItem.slug)
            .subquery()
        )
        query = query.join(
            newest,
            (ContentItem.slug == newest.c.slug) & (ContentItem.version == newest.c.version),
        )
    if status is not None:
        query = query.where(ContentItem.status == status)
    if topic is not None:
        query = query.where(ContentItem.topic == topic)
    if language is not None:
        query = query.where(ContentItem.language == language)
    return list(session.scalars(query.order_by(ContentItem.slug, ContentItem.version)))


def versions(session: Session, slug: str) -> list[ContentItem]:
    """Every version of ``slug``, oldest first; raise :class:`NotFound` for none."""
    rows = list(
        session.scalars(
            select(ContentItem).where(ContentItem.slug == slug).order_by(ContentItem.version)
        )
    )
    if not rows:
        raise NotFound(f"no content item {slug!r}")
    return rows


def history(session: Session, item_id: int) -> list[AuditEvent]:
    """What happened to version ``item_id`` (created, edited, submitted, rejected with the
    comment, approved, retired), oldest first."""
    return list(
        session.scalars(
            select(AuditEvent)
            .where(AuditEvent.object_type == "content_item", AuditEvent.object_id == str(item_id))
            .order_by(AuditEvent.at, AuditEvent.id)
        )
    )


def topics(session: Session) -> list[str]:
    """Every topic used by any version, sorted."""
    return sorted(set(session.scalars(select(ContentItem.topic).distinct())))


def playable_items(
    session: Session,
    moment: datetime,
    *,
    language: str | None = None,
    topics: Sequence[str] = (),
) -> list[ContentItem]:
    """The newest playable version of each slug at ``moment`` (approved, inside its
    validity window), optionally of one language and some topics; by slug."""
    conditions = [ContentItem.playable_at(moment)]
    if language is not None:
        conditions.append(ContentItem.language == language)
    if topics:
        conditions.append(ContentItem.topic.in_(list(topics)))
    newest = (
        select(ContentItem.slug, func.max(ContentItem.version).label("version"))
        .where(*conditions)
        .group_by(ContentItem.slug)
        .subquery()
    )
    query = select(ContentItem).join(
        newest, (ContentItem.slug == newest.c.slug) & (ContentItem.version == newest.c.version)
    )
    return list(session.scalars(query.order_by(ContentItem.slug)))


def create_draft(
    session: Session,
    *,
    actor_id: int,
    now: datetime,
    slug: str,
    title: str,
    topic: str,
    language: str,
    body_text: str = "",
    priority: bool = False,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
) -> ContentItem:
    """Start a new item as version 1 in ``draft``, written by ``actor_id``.

    Raises :class:`InvalidContent` (a field, or a slug that exists: use
    :func:`new_version`) and :class:`NotPermitted` (not an editor).
    """
    _editor(session, actor_id)
    slug = slug.strip()
    if not _SLUG.match(slug):
        raise InvalidContent("slug: use lower-case letters, digits and '-', e.g. fees-2026")
    if session.scalar(select(ContentItem.id).where(ContentItem.slug == slug)) is not None:
        raise InvalidContent(f"slug: {slug!r} exists already; make a new version of it instead")
    item = ContentItem(
        slug=slug,
        version=1,
        title=_title(title),
        topic=_topic(topic),
        language=_language(language),
        body_text=body_text.strip(),
        priority=priority,
        valid_from=valid_from,
        valid_until=valid_until,
        status=ContentStatus.draft,
        author_id=actor_id,
        created_at=now,
        updated_at=now,
    )
    _check_window(item.valid_from, item.valid_until)
    session.add(item)
    session.flush()
    _audit(session, item, actor_id, now, "content.create", {"version": 1})
    return item


def edit_draft(
    session: Session,
    item_id: int,
    *,
    actor_id: int,
    now: datetime,
    title: str | _Unset = UNSET,
    topic: str | _Unset = UNSET,
    language: str | _Unset = UNSET,
    body_text: str | _Unset = UNSET,
    priority: bool | _Unset = UNSET,
    valid_from: datetime | None | _Unset = UNSET,
    valid_until: datetime | None | _Unset = UNSET,
) -> ContentItem:
    """Change the given fields of a draft (``UNSET`` leaves one as it is).

    Only drafts change: an item in review must be rejected first, an approved or retired
    one never changes (:class:`ContentImmutable`). Whoever edits counts as an author for
    the four-eyes rule.
    """
    _editor(session, actor_id)
    item = get_item(session, item_id)
    _require_draft(item, "edit")
    changed: list[str] = []
    if not isinstance(title, _Unset):
        item.title = _title(title)
        changed.append("title")
    if not isinstance(topic, _Unset):
        item.topic = _topic(topic)
        changed.append("topic")
    if not isinstance(language, _Unset):
        item.language = _language(language)
        changed.append("language")
    if not isinstance(body_text, _Unset):
        item.body_text = body_text.strip()
        changed.append("body_text")
    if not isinstance(priority, _Unset):
        item.priority = priority
        changed.append("priority")
    if not isinstance(valid_from, _Unset):
        item.valid_from = valid_from
        changed.append("valid_from")
    if not isinstance(valid_until, _Unset):
        item.valid_until = valid_until
        changed.append("valid_until")
    _check_window(item.valid_from, item.valid_until)
    if item.audio_path is None and {"body_text", "language"} & set(changed):
        # The synthesised audio said the old text.
        item.radio_audio_path = None
        item.duration_s = item.loudness_lufs = item.true_peak_db = None
    item.updated_at = now
    _audit(session, item, actor_id, now, "content.edit", {"fields": changed})
    return item


def attach_recording(
    session: Session,
    settings: Settings,
    item_id: int,
    upload: Path,
    *,
    original_name: str,
    actor_id: int,
    now: datetime,
) -> ContentItem:
    """Make an uploaded recording (any format ffmpeg reads) the voice of a draft.

    Checks size, then ffprobe's reading and the duration against ``settings.radio``
    (:class:`RecordingRejected` with the reason otherwise), then converts it with ONE
    ffmpeg run into the radio master and the hotline's 8 kHz ``sln``/``ulaw``/``gsm``
    under ``DATA_DIR/content/<slug>/v<version>/``; the original is kept beside them.
    ``upload`` itself is left where it is. Runs ffmpeg: seconds, not milliseconds.
    """
    _editor(session, actor_id)
    item = get_item(session, item_id)
    _require_draft(item, "attach a recording to")
    limits = RecordingLimits.from_settings(settings)
    name = Path(original_name).name or "recording"
    size = upload.stat().st_size if upload.is_file() else 0
    if size == 0:
        raise RecordingRejected(f"{name} is empty")
    if size > limits.max_bytes:
        raise RecordingRejected(
            f"{name} is {size / 1048576:.1f} MB; the limit is "
            f"{limits.max_bytes / 1048576:.0f} MB (DESBUMI_RADIO__MAX_UPLOAD_MB)"
        )
    try:
        info = probe_media(settings.ffprobe, upload)
    except AudioError as exc:
        raise RecordingRejected(str(exc).replace(upload.name, name)) from None
    if info.duration_s > limits.max_s:
        raise RecordingRejected(
            f"{name} is {_minutes(info.duration_s)} long; the limit is "
            f"{_minutes(limits.max_s)} (DESBUMI_RADIO__MAX_RECORDING_S)"
        )
    if info.duration_s < limits.min_s:
        raise RecordingRejected(
            f"{name} is only {info.duration_s:.1f} s long; at least {limits.min_s:.0f} s"
        )
    relative = Path(CONTENT_DIR) / item.slug / f"v{item.version}"
    folder = settings.data_dir / relative
    folder.mkdir(parents=True, exist_ok=True)
    suffix = re.sub(r"[^a-z0-9.]", "", Path(name).suffix.lower())[:10] or ".bin"
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        staged = Path(tmp)
        try:
            convert_to_master(settings.ffmpeg, upload, staged / "radio.wav", staged / "phone")
        except AudioError as exc:
            raise RecordingRejected(str(exc).replace(upload.name, name)) from None
        try:
            loudness = measure_loudness(settings.ffmpeg, ["-i", str(staged / "radio.wav")])
        except AudioError as exc:
            raise RecordingRejected(f"{name}: {exc}") from None
        shutil.copyfile(upload, staged / f"original{suffix}")
        for old in folder.glob("original.*"):
            old.unlink()
        for produced in staged.iterdir():
            # Renamed into place: the hotline never reads a half-written file.
            produced.replace(folder / produced.name)
    item.audio_path = str(relative / "phone.sln")
    item.radio_audio_path = str(relative / "radio.wav")
    item.duration_s = round(info.duration_s, 3)
    item.loudness_lufs = _finite(loudness.integrated_lufs)
    item.true_peak_db = _finite(loudness.true_peak_db)
    item.updated_at = now
    _audit(
        session,
        item,
        actor_id,
        now,
        "content.recording",
        {"file": name, "format": info.format_name, "duration_s": item.duration_s},
    )
    return item


def remove_recording(session: Session, item_id: int, *, actor_id: int, now: datetime) -> None:
    """Go back to the synthesised voice for a draft (the files stay on disk)."""
    _editor(session, actor_id)
    item = get_item(session, item_id)
    _require_draft(item, "remove the recording of")
    item.audio_path = None
    item.radio_audio_path = None
    item.duration_s = item.loudness_lufs = item.true_peak_db = None
    item.updated_at = now
    _audit(session, item, actor_id, now, "content.recording", {"removed": True})


def submit(session: Session, item_id: int, *, actor_id: int, now: datetime) -> ContentItem:
    """Send a draft for review. It needs a title and either a recording or text in a
    language that has a synthetic voice, and must not have expired already."""
    _editor(session, actor_id)
    item = get_item(session, item_id)
    _require_draft(item, "submit")
    if item.audio_path is None:
        if not item.body_text:
            raise InvalidContent("body_text: write the message or attach a recording")
        if item.language not in VOICES:
            raise InvalidContent(
                f"language: there is no synthetic voice for {item.language!r}; "
                "attach a recording of the message"
            )
    _not_expired(item, now)
    _move(item, ContentStatus.in_review, now)
    item.submitted_at = now
    _audit(session, item, actor_id, now, "content.submit", {})
    return item


def approve(session: Session, item_id: int, *, actor_id: int, now: datetime) -> ContentItem:
    """Approve an item in review: it becomes immutable and playable in its window.

    Four eyes: ``actor_id`` must not have written this version (:class:`NotPermitted`).
    An older approved version of the slug is retired. A text item gets its radio audio
    from a ``broadcasts.render_content`` job queued in this transaction.
    """
    _editor(session, actor_id)
    item = get_item(session, item_id)
    if item.status is not ContentStatus.in_review:
        raise ContentStateError(f"only an item in review can be approved; it is {item.status}")
    if actor_id in _writers(session, item):
        raise NotPermitted("four eyes: an editor who did not write this version must approve it")
    _not_expired(item, now)
    for older in session.scalars(
        select(ContentItem).where(
            ContentItem.slug == item.slug,
            ContentItem.id != item.id,
            ContentItem.status == ContentStatus.approved,
        )
    ):
        _move(older, ContentStatus.retired, now)
        _audit(session, older, actor_id, now, "content.retire", {"superseded_by": item.version})
    _move(item, ContentStatus.approved, now)
    item.approved_by_id = actor_id
    item.approved_at = now
    item.review_comment = None
    _audit(session, item, actor_id, now, "content.approve", {})
    if item.radio_audio_path is None:
        queue.enqueue(
            session,
            RENDER_KIND,
            {"content_item_id": item.id},
            now=now,
            priority=5,
            unique_key=f"{RENDER_KIND}:{item.id}",
        )
    return item


def reject(
    session: Session, item_id: int, *, actor_id: int, now: datetime, comment: str
) -> ContentItem:
    """Send an item in review back to ``draft`` with ``comment`` for its author."""
    _editor(session, actor_id)
    item = get_item(session, item_id)
    if item.status is not ContentStatus.in_review:
        raise ContentStateError(f"only an item in review can be rejected; it is {item.status}")
    comment = comment.strip()
    if not comment:
        raise InvalidContent("comment: say what the author should change")
    _move(item, ContentStatus.draft, now)
    item.review_comment = comment
    _audit(session, item, actor_id, now, "content.reject", {"comment": comment})
    return item


def retire(
    session: Session, item_id: int, *, actor_id: int, now: datetime, reason: str = ""
) -> ContentItem:
    """Withdraw a version for good: it never plays again (segments not yet aired that
    carry it are planned again by the scheduler)."""
    _editor(session, actor_id)
    item = get_item(session, item_id)
    if item.status is ContentStatus.retired:
        raise ContentStateError("this version is retired already")
    _move(item, ContentStatus.retired, now)
    _audit(session, item, actor_id, now, "content.retire", {"reason": reason.strip()})
    return item


def new_version(session: Session, item_id: int, *, actor_id: int, now: datetime) -> ContentItem:
    """Copy an approved (or retired) version into a new draft with the next version number.

    The recording, if any, is shared until the new draft gets its own. Refused while the
    slug has a draft or an item in review (finish that one first).
    """
    _editor(session, actor_id)
    source = get_item(session, item_id)
    if source.status not in (ContentStatus.approved, ContentStatus.retired):
        raise ContentStateError("edit the draft itself; new versions come from approved ones")
    open_version = session.scalar(
        select(ContentItem.version).where(
            ContentItem.slug == source.slug,
            ContentItem.status.in_([ContentStatus.draft, ContentStatus.in_review]),
        )
    )
    if open_version is not None:
        raise ContentStateError(f"{source.slug} has an open version {open_version} already")
    latest = session.scalar(
        select(func.max(ContentItem.version)).where(ContentItem.slug == source.slug)
    )
    item = ContentItem(
        slug=source.slug,
        version=int(latest or source.version) + 1,
        topic=source.topic,
        language=source.language,
        title=source.title,
        body_text=source.body_text,
        audio_path=source.audio_path,
        radio_audio_path=source.radio_audio_path if source.audio_path else None,
        duration_s=source.duration_s if source.audio_path else None,
        loudness_lufs=source.loudness_lufs if source.audio_path else None,
        true_peak_db=source.true_peak_db if source.audio_path else None,
        priority=source.priority,
        valid_from=source.valid_from,
        valid_until=source.valid_until,
        status=ContentStatus.draft,
        author_id=actor_id,
        created_at=now,
        updated_at=now,
    )
    session.add(item)
    session.flush()
    _audit(session, item, actor_id, now, "content.new_version", {"from_version": source.version})
    return item


def set_rendered_audio(
    item: ContentItem,
    radio_audio_path: str,
    duration_s: float,
    loudness_lufs: float | None,
    true_peak_db: float | None,
) -> None:
    """Record the synthesised radio audio of an approved text item (the render job's
    effect). Derived data, not content: the one write an approved version accepts."""
    if item.audio_path is not None:
        raise ContentImmutable("a recorded item keeps its recording")
    item.radio_audio_path = radio_audio_path
    item.duration_s = round(duration_s, 3)
    item.loudness_lufs = _finite(loudness_lufs)
    item.true_peak_db = _finite(true_peak_db)


def rendered_path(item: ContentItem) -> str:
    """Where the synthesised radio audio of ``item`` lives, relative to the data dir."""
    return str(Path(CONTENT_DIR) / item.slug / f"v{item.version}" / "speech.wav")


def _editor(session: Session, actor_id: int) -> User:
    user = session.get(User, actor_id)
    if user is None or not user.is_active:
        raise NotPermitted("unknown or disabled user")
    if user.role not in (UserRole.editor, UserRole.admin):
        raise NotPermitted("only editors and admins work on content")
    return user


def _writers(session: Session, item: ContentItem) -> set[int]:
    actors = session.scalars(
        select(AuditEvent.actor_user_id).where(
            AuditEvent.object_type == "content_item",
            AuditEvent.object_id == str(item.id),
            AuditEvent.action.in_(_WRITE_ACTIONS),
        )
    )
    return {a for a in actors if a is not None} | ({item.author_id} if item.author_id else set())


def _require_draft(item: ContentItem, verb: str) -> None:
    if item.status in (ContentStatus.approved, ContentStatus.retired):
        raise ContentImmutable(
            f"version {item.version} of {item.slug} is {item.status} and cannot change; "
            "make a new version"
        )
    if item.status is not ContentStatus.draft:
        raise ContentStateError(f"cannot {verb} an item in review; reject it back to draft first")


def _move(item: ContentItem, target: ContentStatus, now: datetime) -> None:
    check_transition(item.status, target)
    item.status = target
    item.updated_at = now


def _not_expired(item: ContentItem, now: datetime) -> None:
    if item.valid_until is not None and item.valid_until <= now:
        raise InvalidContent("valid_until: this message has expired; change its validity")


def _check_window(valid_from: datetime | None, valid_until: datetime | None) -> None:
    for name, value in (("valid_from", valid_from), ("valid_until", valid_until)):
        if value is not None and value.tzinfo is None:
            raise InvalidContent(f"{name}: give a time with its time zone")
    if valid_from is not None and valid_until is not None and valid_until <= valid_from:
        raise InvalidContent("valid_until: must be after valid_from")


def _title(value: str) -> str:
    value = " ".join(value.split())
    if not value or len(value) > 200:
        raise InvalidContent("title: 1 to 200 characters")
    return value


def _topic(value: str) -> str:
    value = value.strip()
    if not _TOPIC.match(value):
        raise InvalidContent("topic: lower-case letters, digits, '_' or '-', e.g. fees")
    return value


def _language(value: str) -> str:
    value = value.strip().lower()
    if not _LANGUAGE.match(value):
        raise InvalidContent("language: a two- or three-letter code such as id, ms, jv")
    return value


def _finite(value: float | None) -> float | None:
    # A silent file measures -inf, which no database column holds.
    return value if value is not None and abs(value) != float("inf") else None


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"


def _audit(
    session: Session,
    item: ContentItem,
    actor_id: int,
    now: datetime,
    action: str,
    details: dict[str, object],
) -> None:
    session.add(
        AuditEvent(
            at=now,
            actor_user_id=actor_id,
            actor_kind="user",
            action=action,
            object_type="content_item",
            object_id=str(item.id),
            details={"slug": item.slug, "version": item.version, **details},
        )
    )
