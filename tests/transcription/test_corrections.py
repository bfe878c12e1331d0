"""A case worker's typed or corrected transcript: kept beside the machine text, triaged again."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from core.db import Database
from core.models import AuditEvent, Case, Recording, Transcript
from core.states import TranscriptionStatus, Urgency
from transcription.alignment import align_correction
from transcription.errors import TranscriptRejected
from transcription.service import MANUAL_ENGINE, correct_transcript, transcript_of

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def _words(*triples: tuple[str, float, float]) -> list[dict[str, object]]:
    return [{"word": w, "start": s, "end": e, "conf": 0.4} for w, s, e in triples]


def test_kept_words_keep_their_times_and_typed_words_fill_the_gaps() -> None:
    heard = _words(("saya", 0.0, 0.4), ("di", 0.5, 0.6), ("kul", 0.6, 0.9), ("majikan", 1.0, 1.5))
    aligned = align_correction("Saya dipukul majikan", heard)
    assert [(w.word, w.start, w.end, w.conf) for w in aligned] == [
        ("Saya", 0.0, 0.4, 1.0),
        ("dipukul", 0.4, 1.0, 1.0),
        ("majikan", 1.0, 1.5, 1.0),
    ]
    # Words typed after the last heard word sit at the end of the audio.
    tail = align_correction("saya majikan tolong", heard)
    assert (tail[-1].word, tail[-1].start, tail[-1].end) == ("tolong", 1.5, 1.5)
    assert align_correction("apa saja", []) == []
    assert align_correction("   ", heard) == []


def _case_with_recording(db: Database, status: TranscriptionStatus) -> tuple[int, int]:
    with db.transaction() as s:
        case = Case(reference="400100", created_at=NOW, updated_at=NOW, indicators=[])
        s.add(case)
        s.flush()
        recording = Recording(
            case_id=case.id,
            path="recordings/x.wav",
            format="wav",
            sha256="0" * 64,
            transcription=status,
            created_at=NOW,
        )
        s.add(recording)
        s.flush()
        return case.id, recording.id


def test_correction_is_kept_beside_the_machine_text_and_triaged(db: Database) -> None:
    case_id, recording_id = _case_with_recording(db, TranscriptionStatus.done)
    machine = _words(("saya", 0.0, 0.4), ("di", 0.5, 0.6), ("kul", 0.6, 0.9), ("majikan", 1.0, 1.5))
    with db.transaction() as s:
        s.add(
            Transcript(
                recording_id=recording_id,
                engine="vosk",
                language="id",
                text="saya di kul majikan",
                words=machine,
                created_at=NOW,
            )
        )
    with db.transaction() as s:
        correct_transcript(s, recording_id, " Saya  dipukul majikan ", user_id=None, now=NOW)
    with db.read_session() as s:
        transcripts = list(s.scalars(select(Transcript)))
        case = s.get(Case, case_id)
        audit = s.scalars(select(AuditEvent).where(AuditEvent.action == "transcript.correct")).one()
    assert len(transcripts) == 1, "one row per recording: the machine text and the correction"
    assert transcripts[0].text == "saya di kul majikan"
    assert transcripts[0].corrected_text == "Saya dipukul majikan"
    assert transcripts[0].corrected_at == NOW
    assert case is not None and case.urgency is Urgency.critical
    evidence = {e["indicator"]: e for e in case.indicators}["physical_violence"]
    assert (evidence["phrase"], evidence["start"], evidence["source"]) == (
        "dipukul",
        0.4,
        "correction",
    )
    assert audit.object_id == str(case_id)
    assert "majikan" not in str(audit.details), "the audit log never holds the transcript"


def test_typed_transcript_without_a_model_then_the_machine_joins_it(db: Database) -> None:
    case_id, recording_id = _case_with_recording(db, TranscriptionStatus.awaiting_model)
    with db.transaction() as s:
        typed = correct_transcript(s, recording_id, "paspor ditahan agen", user_id=None, now=NOW)
        assert typed.engine == MANUAL_ENGINE and typed.text == ""
    with db.read_session() as s:
        case = s.get(Case, case_id)
        assert case is not None and case.urgency is Urgency.high
        assert [e["start"] for e in case.indicators] == [None], "no audio timings to carry"
    with db.transaction() as s:
        again = correct_transcript(s, recording_id, "paspor ditahan PT", user_id=None, now=NOW)
    with db.read_session() as s:
        stored = transcript_of(s, recording_id)
        assert stored is not None and stored.id == again.id
        assert stored.corrected_text == "paspor ditahan PT"


@pytest.mark.parametrize("text", ["", "   \n ", "x" * 20_001])
def test_empty_or_huge_transcripts_are_refused(db: Database, text: str) -> None:
    _case_id, recording_id = _case_with_recording(db, TranscriptionStatus.done)
    with pytest.raises(TranscriptRejected), db.transaction() as s:
        correct_transcript(s, recording_id, text, user_id=None, now=NOW)
    with db.read_session() as s:
        assert s.scalars(select(Transcript)).all() == []


def test_unknown_recording_is_refused(db: Database, tmp_path: Path) -> None:
    with pytest.raises(TranscriptRejected, match="does not exist"), db.transaction() as s:
        correct_transcript(s, 999, "halo", user_id=None, now=NOW)
