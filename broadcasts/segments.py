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
from broadcasts.planner import TOLERANCE_S
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
    """What a build needs, read in one short transaction. The frame (jingle, intro,
    outro) is made after it, so no write lock is held while sox or the TTS run."""

    segment_id: int
    digest: str
    name: str
    out_dir: Path
    target_s: float
    items: list[Part]
    jingle: Path | None
    language: str
    intro_text: str
    outro_text: str


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
        self._reported: dict[int, int] = {}

    def __call__(self, job: ClaimedJob) -> Effect | None:
        segment_id = int(job.payload["segment_id"])
        work = self._start(segment_id, str(job.payload.get("plan", "")))
        if work is None:
            return None
        started = self.clock.now()
        try:
            built = self._build(segment_id, work)
        except (AssemblyError, AudioError) as exc:
            if job.attempts >= job.max_attempts:
                raise JobFailed(str(exc), effect=_failed(segment_id, str(exc))) from None
            raise
        if abs(built.duration_s - work.target_s) > TOLERANCE_S:
            logger.warning(
                "segment_id=%s is %.0f s long for a %.0f s target: the library is too small "
                "or its items too long",
                segment_id,
                built.duration_s,
                work.target_s,
            )
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

    def build_now(self, segment_id: int) -> bool:
        """Assemble one segment here and now, without the queue (``desbumi export-usb``).

        Returns False when there was nothing to do (built already, cancelled, aired)."""
        work = self._start(segment_id, "")
        if work is None:
            return False
        try:
            built = self._build(segment_id, work)
        except (AssemblyError, AudioError) as exc:
            with self.db.transaction() as session:
                _failed(segment_id, str(exc))(session)
            raise AssemblyError(str(exc)) from None
        with self.db.transaction() as session:
            _ready(segment_id, work.digest, built, self.clock.now())(session)
        return True

    def _build(self, segment_id: int, work: _Work) -> BuiltSegment:
        return build(
            self._frame(work),
            target_s=work.target_s,
            radio=self.settings.radio,
            ffmpeg=self.settings.ffmpeg,
            data_dir=self.settings.data_dir,
            out_dir=work.out_dir,
            name=work.name,
            progress=lambda done: self._progress(segment_id, done),
        )

    def _start(self, segment_id: int, digest: str) -> _Work | None:
        with self.db.transaction() as session:
            segment = session.get(Segment, segment_id)
            if segment is None:
                raise JobFailed(f"segment {segment_id} does not exist")
            if segment.status in (SegmentStatus.cancelled, SegmentStatus.aired):
                return None
            current = plan_digest(segment.planned_content_ids)
            if digest and digest != current:
                return None  # planned again since; the newer job builds it
            if segment.status is SegmentStatus.ready and (not digest or digest == current):
                return None  # built already (by `desbumi export-usb`, or an earlier run)
            if segment.status is not SegmentStatus.assembling:
                check_transition(segment.status, SegmentStatus.assembling)
                segment.status = SegmentStatus.assembling
            segment.progress = 0.0
            segment.updated_at = self.clock.now()
            programme = session.get(Programme, segment.programme_id)
            assert programme is not None  # noqa: S101 - a foreign key
            slot = session.get(Slot, segment.slot_id) if segment.slot_id else None
            timezone = slot.timezone if slot else self.settings.timezone
            name = segment_name(programme.slug, segment.air_at, timezone)
            out_dir = self.settings.data_dir / "segments" / programme.slug / str(segment.id)
            return _Work(
                segment.id,
                plan_digest(segment.planned_content_ids),
                name,
                out_dir,
                float(programme.target_duration_s),
                self._items(session, segment),
                self.settings.data_dir / programme.jingle_path if programme.jingle_path else None,
                programme.language,
                programme.intro_text,
                programme.outro_text,
            )

    def _frame(self, work: _Work) -> list[Part]:
        """Jingle, intro, the items, outro, jingle (synthesising what is not cached)."""
        jingle = work.jingle or self.sounds.jingle()
        parts = [Part("jingle", jingle, title="jingle")]
        if work.intro_text:
            intro = self.sounds.speech(work.intro_text, work.language)
            parts.append(Part("intro", intro, title="intro"))
        parts += work.items
        if work.outro_text:
            outro = self.sounds.speech(work.outro_text, work.language)
            parts.append(Part("outro", outro, title="outro"))
        parts.append(Part("jingle", jingle, title="jingle"))
        return parts

    def _items(self, session: Session, segment: Segment) -> list[Part]:
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
        parts = []
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
        return parts

    def _progress(self, segment_id: int, done: float) -> None:
        # A 40-clip segment reports 40 times while joining: log and store every 10 %.
        step = int(done * 10)
        if step == self._reported.get(segment_id) and done < 1.0:
            return
        self._reported[segment_id] = step
        if done >= 1.0:
            self._reported.pop(segment_id, None)
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
