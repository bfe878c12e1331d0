"""Transcription jobs: a recording in, a machine transcript stored with word timings.

The slow part (ffmpeg + Vosk) runs outside any transaction; the transcript and the
recording's new status are the job's effect, committed with its completion, so each
recording gets exactly one machine transcript even when a worker dies mid-job.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from audio.errors import AudioUnreadable
from audio.ffmpeg import decode_pcm
from core import queue
from core.clock import Clock
from core.db import Database
from core.errors import JobFailed, JobHeld
from core.models import AuditEvent, Case, Recording, Transcript
from core.queue import ClaimedJob
from core.recordings import TRANSCRIBE_KIND
from core.settings import Settings
from core.states import URGENCY_RANK, TranscriptionStatus
from core.worker import Effect
from transcription.alignment import align_correction
from transcription.errors import ModelUnavailable, TranscriptRejected
from transcription.triage import Triage, triage
from transcription.vosk_engine import MODEL_SAMPLE_RATE, Decoded, ModelCache, decode

logger = logging.getLogger(__name__)

KIND = TRANSCRIBE_KIND
AWAITING_MODEL = "awaiting_model"
MANUAL_ENGINE = "manual"
MAX_TRANSCRIPT_CHARS = 20_000


def _set_status(recording_id: int, status: TranscriptionStatus, error: str | None) -> Effect:
    def apply(session: Session) -> None:
        recording = session.get(Recording, recording_id)
        if recording is not None:
            recording.transcription = status
            recording.transcription_error = error

    return apply


class TranscriptionHandler:
    """The ``transcribe`` job: resample with ffmpeg, decode with Vosk, store the words."""

    def __init__(self, settings: Settings, db: Database, clock: Clock, models: ModelCache) -> None:
        self.settings = settings
        self.db = db
        self.clock = clock
        self.models = models

    def __call__(self, job: ClaimedJob) -> Effect:
        recording_id = int(job.payload["recording_id"])
        with self.db.read_session() as session, session.begin():
            recording = session.get(Recording, recording_id)
            if recording is None:
                raise JobFailed(f"recording {recording_id} does not exist")
            path = self.settings.data_dir / recording.path
            language = recording.language
            case = session.get(Case, recording.case_id) if recording.case_id else None
            hints = dict(case.keypad_hints) if case is not None else {}
        model_dir = self.settings.vosk_model_dir(language)
        try:
            model = self.models.get(model_dir)
        except ModelUnavailable as exc:
            # The normal case in villages without a model: park, do not retry in a loop.
            logger.info(
                "job_id=%s recording_id=%s awaiting a %s model", job.id, recording_id, language
            )
            raise JobHeld(
                f"{AWAITING_MODEL}: {exc}",
                effect=_set_status(recording_id, TranscriptionStatus.awaiting_model, str(exc)),
            ) from None
        try:
            decoded = decode(model, decode_pcm(self.settings.ffmpeg, path, MODEL_SAMPLE_RATE))
        except AudioUnreadable as exc:
            if job.attempts >= job.max_attempts:
                raise JobFailed(
                    f"recording unreadable: {exc}",
                    effect=_set_status(recording_id, TranscriptionStatus.unreadable, str(exc)),
                ) from None
            raise
        logger.info(
            "job_id=%s recording_id=%s transcribed: %s words",
            job.id,
            recording_id,
            len(decoded.words),
        )
        triaged = triage(
            decoded.text, language=language, words=[asdict(w) for w in decoded.words], hints=hints
        )
        return self._store(recording_id, language, model_dir, decoded, triaged)

    def _store(
        self,
        recording_id: int,
        language: str,
        model_dir: Path,
        decoded: Decoded,
        triaged: Triage,
    ) -> Effect:
        def apply(session: Session) -> None:
            recording = session.get(Recording, recording_id)
            case = session.get(Case, recording.case_id) if recording and recording.case_id else None
            if case is not None:
                apply_triage(case, triaged, now=self.clock.now())
            # A case worker may have typed a transcript while the model was missing: the
            # machine text joins it in the same row, her text stays the one triage reads.
            transcript = transcript_of(session, recording_id)
            if transcript is None:
                transcript = Transcript(
                    recording_id=recording_id, language=language, created_at=self.clock.now()
                )
                session.add(transcript)
            transcript.engine = "vosk"
            transcript.model = model_dir.name
            transcript.text = decoded.text
            transcript.words = [asdict(word) for word in decoded.words]
            transcript.confidence = decoded.confidence
            _set_status(recording_id, TranscriptionStatus.done, None)(session)

        return apply


def transcript_of(session: Session, recording_id: int) -> Transcript | None:
    """The recording's transcript (machine text and any correction), if there is one."""
    return session.scalar(
        select(Transcript)
        .where(Transcript.recording_id == recording_id)
        .order_by(Transcript.id.desc())
        .limit(1)
    )


def correct_transcript(
    session: Session, recording_id: int, text: str, *, user_id: int | None, now: datetime
) -> Transcript:
    """A case worker's typed or corrected transcript; triage runs again on it.

    The machine text stays beside the correction (both are evidence). Without a machine
    transcript (no model for the language, an unreadable file) the typed text is the
    transcript. The correction's words take the machine's timings where they agree, so
    the indicators found in it still point at a moment in the audio. Urgency may rise,
    never fall (a case worker lowers it herself). Audited, without the text.
    """
    cleaned = " ".join(text.split())
    if not cleaned:
        raise TranscriptRejected("the transcript is empty")
    if len(cleaned) > MAX_TRANSCRIPT_CHARS:
        raise TranscriptRejected(
            f"the transcript is longer than {MAX_TRANSCRIPT_CHARS:,} characters"
        )
    recording = session.get(Recording, recording_id)
    if recording is None:
        raise TranscriptRejected(f"recording {recording_id} does not exist")
    transcript = transcript_of(session, recording_id)
    if transcript is None:
        transcript = Transcript(
            recording_id=recording_id,
            engine=MANUAL_ENGINE,
            language=recording.language,
            text="",
            words=[],
            created_at=now,
        )
        session.add(transcript)
    transcript.corrected_text = cleaned
    transcript.corrected_by_id = user_id
    transcript.corrected_at = now
    case = session.get(Case, recording.case_id) if recording.case_id else None
    if case is not None:
        words = align_correction(cleaned, transcript.words)
        triaged = triage(
            cleaned,
            language=recording.language,
            words=words or None,
            hints=dict(case.keypad_hints),
        )
        apply_triage(case, triaged, now=now, source="correction")
    session.flush()
    session.add(
        AuditEvent(
            at=now,
            actor_user_id=user_id,
            actor_kind="user" if user_id is not None else "system",
            action="transcript.correct",
            object_type="case",
            object_id=str(recording.case_id or ""),
            details={"recording_id": recording_id, "transcript_id": transcript.id},
        )
    )
    return transcript


def apply_triage(case: Case, triaged: Triage, *, now: datetime, source: str = "machine") -> None:
    """Record triage's indicators on the case; urgency may rise, never fall.

    ``source`` says which text they came from (``machine``: the recogniser's,
    ``correction``: a case worker's). An indicator already on the case keeps its first
    evidence. A case worker's own judgement (a lower urgency she set) is not overridden
    downwards by a later pass; a higher one (a repeat report of violence) raises it.
    """
    known = {item["indicator"]: item for item in case.indicators}
    for evidence in triaged.evidence:
        known.setdefault(
            str(evidence.indicator),
            {
                "indicator": str(evidence.indicator),
                "phrase": evidence.phrase,
                "start": evidence.start,
                "end": evidence.end,
                "weight": evidence.weight,
                "source": source,
            },
        )
    case.indicators = list(known.values())
    if URGENCY_RANK[triaged.urgency] > case.urgency_rank:
        case.set_urgency(triaged.urgency, list(triaged.reasons))
    case.updated_at = now


def release_awaiting(session: Session, language: str, *, now: datetime) -> int:
    """A model for ``language`` arrived: queue its held jobs again. Returns how many."""
    session.query(Recording).filter(
        Recording.language == language,
        Recording.transcription == TranscriptionStatus.awaiting_model,
    ).update(
        {Recording.transcription: TranscriptionStatus.pending, Recording.transcription_error: None},
        synchronize_session=False,
    )
    return queue.release_held(session, KIND, now=now, payload_match={"language": language})
