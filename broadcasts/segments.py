"""The ``broadcasts.assemble`` job: one segment's audio, ahead of its air time.

The job reads its segment's plan, keeps only items that are still playable at air time
(``ContentItem.playable_at``, the hotline's predicate, checked once more here), builds the
audio outside any transaction (:func:`broadcasts.assembly.build`) while storing its
progress on the segment, and commits files, cue sheet and checksums with the job's
completion, but only if the plan is still the one it built: a segment planned again
meanwhile is left to its newer job.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from audio.errors import AudioError
from broadcasts.assembly import BuiltSegment, FrameSounds, Part, build
from broadcasts.errors import AssemblyError
from broadcasts.schedule import ASSEMBLE_KIND, plan_digest
from core.clock import Clock, local_time
from core.db import Database
from core.errors import JobFailed
from core.models import ContentItem, Programme, Segment, Slot
from core.queue import ClaimedJob
from core.settings import Settings
from core.states import SegmentStatus, check_transition
from core.worker import Effect

logger = logging.getLogger(__name__)

KIND = ASSEMBLE_KIND


@dataclass(frozen=True)
class _Work:
    segment_id: int
    digest: str
    name: str
    out_dir: Path
    target_s: float
    parts: list[Part]


def segment_name(programme_slug: str, air_at: datetime, timezone: str) -> str:
    """``kabar-migran-2026-12-03-1900``: the programme and the local air time."""
    local = local_time(air_at, timezone)
    return f"{programme_slug}-{local:%Y-%m-%d-%H%M}"


class AssembleSegmentHandler:
    """Build one segment's audio."""

    def __init__(self, settings: Settings, db: Database, clock: Clock) -> None:
        self.settings = settings
        self.db = db
        self.clock = clock
        self.sounds = FrameSounds(settings.data_dir, settings.sox, settings.ffmpeg)

    def __call__(self, job: ClaimedJob) -> Effect | None:
        segment_id = int(job.payload["segment_id"])
        work = self._start(segment_id, str(job.payload.get("plan", "")))
        if work is None:
            return None
        started = self.clock.now()
        try:
            built = build(
                work.parts,
                target_s=work.target_s,
                radio=self.settings.radio,
                ffmpeg=self.settings.ffmpeg,
                data_dir=self.settings.data_dir,
                out_dir=work.out_dir,
                name=work.name,
                progress=lambda done: self._progress(segment_id, done),
            )
        except (AssemblyError, AudioError) as exc:
            if job.attempts >= job.max_attempts:
                raise JobFailed(str(exc), effect=_failed(segment_id, str(exc))) from None
            raise
        logger.info(
            "job_id=%s segment_id=%s assembled: %.1f s, %d parts, %.1f LUFS in %.1f s",
            job.id,
            segment_id,
            built.duration_s,
            len(built.cues),
            built.integrated_lufs,
            (self.clock.now() - started).total_seconds(),
        )
        return _ready(segment_id, work.digest, built, self.clock.now())

    def _start(self, segment_id: int, digest: str) -> _Work | None:
        with self.db.transaction() as session:
            segment = session.get(Segment, segment_id)
            if segment is None:
                raise JobFailed(f"segment {segment_id} does not exist")
            if segment.status in (SegmentStatus.cancelled, SegmentStatus.aired):
                return None
            if digest and digest != plan_digest(segment.planned_content_ids):
                return None  # planned again since; the newer job builds it
            if segment.status is not SegmentStatus.assembling:
                check_transition(segment.status, SegmentStatus.assembling)
                segment.status = SegmentStatus.assembling
            segment.progress = 0.0
            segment.updated_at = self.clock.now()
            programme = session.get(Programme, segment.programme_id)
            assert programme is not None  # noqa: S101 - a foreign key
            slot = session.get(Slot, segment.slot_id) if segment.slot_id else None
            timezone = slot.timezone if slot else self.settings.timezone
            parts = self._parts(session, segment, programme)
            name = segment_name(programme.slug, segment.air_at, timezone)
            out_dir = self.settings.data_dir / "segments" / programme.slug / str(segment.id)
            return _Work(
                segment.id,
                plan_digest(segment.planned_content_ids),
                name,
                out_dir,
                float(programme.target_duration_s),
                parts,
            )

    def _parts(self, session: Session, segment: Segment, programme: Programme) -> list[Part]:
        planned = [int(i) for i in segment.planned_content_ids]
        rows = {
            row.id: row
            for row in session.scalars(
                select(ContentItem).where(
                    ContentItem.id.in_(planned), ContentItem.playable_at(segment.air_at)
                )
            )
        }
        dropped = [i for i in planned if i not in rows or not rows[i].radio_audio_path]
        if dropped:
            logger.warning(
                "segment_id=%s: %d planned item(s) no longer playable, left out",
                segment.id,
                len(dropped),
            )
        jingle = (
            self.settings.data_dir / programme.jingle_path
            if programme.jingle_path
            else self.sounds.jingle()
        )
        parts = [Part("jingle", jingle, title="jingle")]
        if programme.intro_text:
            intro = self.sounds.speech(programme.intro_text, programme.language)
            parts.append(Part("intro", intro, title="intro"))
        for content_id in planned:
            row = rows.get(content_id)
            if row is None or not row.radio_audio_path:
                continue
            parts.append(
                Part(
                    "item",
                    self.settings.data_dir / row.radio_audio_path,
                    row.id,
                    row.slug,
                    row.version,
                    row.title,
                    row.loudness_lufs,
                    row.true_peak_db,
                )
            )
        if programme.outro_text:
            outro = self.sounds.speech(programme.outro_text, programme.language)
            parts.append(Part("outro", outro, title="outro"))
        parts.append(Part("jingle", jingle, title="jingle"))
        return parts

    def _progress(self, segment_id: int, done: float) -> None:
        logger.info("segment_id=%s assembling: %.0f%%", segment_id, done * 100)
        try:
            with self.db.transaction() as session:
                segment = session.get(Segment, segment_id)
                if segment is not None and segment.status is SegmentStatus.assembling:
                    segment.progress = round(done, 3)
        except SQLAlchemyError as exc:
            # Progress is a courtesy; the build goes on.
            logger.warning("segment_id=%s progress not stored: %s", segment_id, type(exc).__name__)


def _ready(segment_id: int, digest: str, built: BuiltSegment, finished: datetime) -> Effect:
    def apply(session: Session) -> None:
        segment = session.get(Segment, segment_id)
        if segment is None or segment.status is not SegmentStatus.assembling:
            return
        if plan_digest(segment.planned_content_ids) != digest:
            return
        segment.status = check_transition(segment.status, SegmentStatus.ready)
        segment.files = dict(built.files)
        segment.file_info = dict(built.file_info)
        segment.cue_sheet = [asdict(c) for c in built.cues]
        segment.duration_s = built.duration_s
        segment.sha256 = built.sha256
        segment.progress = 1.0
        segment.error = None
        segment.assembled_at = segment.updated_at = finished

    return apply


def _failed(segment_id: int, error: str) -> Effect:
    def apply(session: Session) -> None:
        segment = session.get(Segment, segment_id)
        if segment is not None and segment.status is SegmentStatus.assembling:
            segment.status = SegmentStatus.failed
            segment.error = error[:2000]

    return apply
