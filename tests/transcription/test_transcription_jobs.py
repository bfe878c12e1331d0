"""Transcription jobs with real espeak-ng speech, ffmpeg, libvosk and the synthetic model.

The synthetic model emits "halo" for every loud stretch of audio (tests/data/vosk-test-model
README), so speech with one pause gives two words with timings, and silence gives none.
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.db import Database
from core.models import Case, Job, Recording, Transcript
from core.recordings import enqueue_transcription
from core.settings import Settings
from core.states import JobState, TranscriptionStatus
from core.worker import Worker
from tests.conftest import make_settings
from transcription.service import (
    KIND,
    TranscriptionHandler,
    correct_transcript,
    release_awaiting,
)
from transcription.vosk_engine import ModelCache

MODEL = Path(__file__).resolve().parent.parent / "data" / "vosk-test-model"


class StepClock:
    def __init__(self) -> None:
        self.current = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current


def _speech(directory: Path, name: str, text: str) -> str:
    """An 8 kHz mono telephone-quality WAV of ``text`` spoken by espeak-ng (Indonesian)."""
    wide, narrow = directory / f"{name}-22k.wav", directory / f"{name}.wav"
    subprocess.run(["espeak-ng", "-v", "id", "-w", str(wide), text], check=True)
    subprocess.run(["sox", str(wide), "-r", "8000", "-c", "1", "-b", "16", str(narrow)], check=True)
    return narrow.name


def _silence(directory: Path, name: str, seconds: float) -> str:
    path = directory / f"{name}.wav"
    subprocess.run(
        ["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(path), "trim", "0", str(seconds)],
        check=True,
    )
    return path.name


@pytest.fixture
def tx_settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(
        tmp_path,
        database_url,
        DESBUMI_VOSK__MODELS=json.dumps({"id": str(MODEL)}),
        DESBUMI_WORKER__BACKOFF_BASE_S="1",
    )


@pytest.fixture
def recordings(tx_settings: Settings) -> Path:
    directory = tx_settings.data_dir / "recordings"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _add(
    db: Database,
    clock: StepClock,
    filename: str,
    language: str = "id",
    hints: dict[str, str] | None = None,
) -> int:
    with db.transaction() as s:
        case = Case(
            reference=f"C-{filename}",
            created_at=clock.now(),
            updated_at=clock.now(),
            keypad_hints=hints or {},
        )
        s.add(case)
        s.flush()
        recording = Recording(
            case_id=case.id,
            path=f"recordings/{filename}",
            format="wav",
            sha256="0" * 64,
            language=language,
            created_at=clock.now(),
        )
        s.add(recording)
        s.flush()
        enqueue_transcription(s, recording, now=clock.now())
        return recording.id


def _worker(settings: Settings, db: Database, clock: StepClock) -> Worker:
    handler = TranscriptionHandler(settings, db, clock, ModelCache())
    return Worker(db, {KIND: handler}, settings.worker, clock, owner="test")


def _drain(worker: Worker, clock: StepClock) -> None:
    """Run until nothing is due, letting the clock pass every retry backoff."""
    for _ in range(50):
        if not worker.run_once():
            clock.current += timedelta(hours=2)
            if not worker.run_once():
                return


def _recording(db: Database, recording_id: int) -> tuple[Recording, list[Transcript]]:
    with db.read_session() as s:
        recording = s.get(Recording, recording_id)
        transcripts = list(
            s.scalars(select(Transcript).where(Transcript.recording_id == recording_id))
        )
    assert recording is not None
    return recording, transcripts


def test_speech_is_resampled_decoded_and_stored_with_timings(
    tx_settings: Settings, db: Database, recordings: Path
) -> None:
    clock = StepClock()
    name = _speech(recordings, "report", "Paspor saya ditahan majikan. Gaji belum dibayar.")
    recording_id = _add(db, clock, name)
    _drain(_worker(tx_settings, db, clock), clock)

    recording, transcripts = _recording(db, recording_id)
    assert recording.transcription is TranscriptionStatus.done
    assert len(transcripts) == 1
    transcript = transcripts[0]
    assert (transcript.engine, transcript.model, transcript.language) == (
        "vosk",
        "vosk-test-model",
        "id",
    )
    words = transcript.words
    assert len(words) == 2, "one word per spoken stretch, split at the sentence pause"
    assert transcript.text == "halo halo"
    assert 0 <= words[0]["start"] < words[0]["end"] < words[1]["start"] < words[1]["end"]
    assert words[1]["end"] > 2.0, "timings are in seconds of the original audio"
    assert transcript.confidence == 1.0


def test_silence_gives_an_empty_transcript(
    tx_settings: Settings, db: Database, recordings: Path
) -> None:
    clock = StepClock()
    recording_id = _add(db, clock, _silence(recordings, "quiet", 2.0))
    _drain(_worker(tx_settings, db, clock), clock)
    recording, transcripts = _recording(db, recording_id)
    assert recording.transcription is TranscriptionStatus.done
    assert [(t.text, t.words, t.confidence) for t in transcripts] == [("", [], None)]


@pytest.mark.parametrize(
    "content", [b"", b"this is a text file, not audio\n", b"RIFF\x24\x00\x00\x00WAVEfmt "]
)
def test_unreadable_recording_fails_after_retries_and_others_go_on(
    tx_settings: Settings, db: Database, recordings: Path, content: bytes
) -> None:
    clock = StepClock()
    (recordings / "broken.wav").write_bytes(content)
    broken = _add(db, clock, "broken.wav")
    good = _add(db, clock, _speech(recordings, "good", "Tolong saya."))
    _drain(_worker(tx_settings, db, clock), clock)

    recording, transcripts = _recording(db, broken)
    assert recording.transcription is TranscriptionStatus.unreadable
    assert recording.transcription_error
    assert transcripts == []
    with db.read_session() as s:
        job = s.scalar(select(Job).where(Job.payload["recording_id"].as_integer() == broken))
        assert job is not None
        assert (job.state, job.attempts) == (JobState.dead, 3)
        assert job.last_error is not None and job.last_error.startswith("recording unreadable")
        assert s.scalar(select(func.count()).select_from(Case)) == 2, "the case stays visible"
    assert _recording(db, good)[0].transcription is TranscriptionStatus.done


def test_no_model_waits_then_runs_when_one_is_added(
    tmp_path: Path, database_url: str, db: Database
) -> None:
    clock = StepClock()
    settings = make_settings(tmp_path, database_url)  # no model configured for "id"
    directory = settings.data_dir / "recordings"
    directory.mkdir(parents=True)
    recording_id = _add(db, clock, _speech(directory, "later", "Saya tidak boleh keluar."))
    worker = _worker(settings, db, clock)
    _drain(worker, clock)

    recording, transcripts = _recording(db, recording_id)
    assert recording.transcription is TranscriptionStatus.awaiting_model
    assert transcripts == []
    with db.read_session() as s:
        job = s.scalar(select(Job))
        assert job is not None and job.state is JobState.held and job.attempts == 1

    # Meanwhile a case worker listens and types what she hears.
    with db.transaction() as s:
        correct_transcript(
            s, recording_id, "saya tidak boleh keluar", user_id=None, now=clock.now()
        )

    (settings.data_dir / "models").mkdir(exist_ok=True)
    (settings.data_dir / "models" / "id").symlink_to(MODEL)
    with db.transaction() as s:
        assert release_awaiting(s, "id", now=clock.now()) == 1
    _drain(worker, clock)
    recording, transcripts = _recording(db, recording_id)
    assert recording.transcription is TranscriptionStatus.done
    assert len(transcripts) == 1 and transcripts[0].words, "the machine joins the typed row"
    assert transcripts[0].engine == "vosk"
    assert transcripts[0].corrected_text == "saya tidak boleh keluar"


def test_transcribed_cases_are_triaged_with_their_keypad_hints(
    tx_settings: Settings, db: Database, recordings: Path
) -> None:
    clock = StepClock()
    plain = _add(db, clock, _speech(recordings, "plain", "Saya mau bertanya."))
    urgent = _add(
        db,
        clock,
        _speech(recordings, "urgent", "Tolong saya."),
        hints={"problem": "violence", "country": "SA"},
    )
    silent = _add(db, clock, _silence(recordings, "silent", 1.0))
    _drain(_worker(tx_settings, db, clock), clock)
    with db.read_session() as s:
        cases = {c.reference: c for c in s.scalars(select(Case))}
    by_recording = {plain: "C-plain.wav", urgent: "C-urgent.wav", silent: "C-silent.wav"}
    assert cases[by_recording[plain]].urgency.value == "normal"
    critical = cases[by_recording[urgent]]
    assert (critical.urgency.value, critical.urgency_rank) == ("critical", 3)
    assert [i["indicator"] for i in critical.indicators] == ["physical_violence"]
    assert critical.indicators[0]["phrase"] == "keypad: violence"
    assert critical.urgency_reasons == ["physical violence: 'keypad: violence'"]
    assert cases[by_recording[silent]].urgency.value == "untriaged"


def test_machine_triage_never_lowers_urgency() -> None:
    from core.states import Urgency
    from transcription.service import apply_triage
    from transcription.triage import triage

    now = datetime(2026, 11, 22, tzinfo=UTC)
    case = Case(reference="X", created_at=now, updated_at=now, indicators=[])
    case.set_urgency(Urgency.high, ["case worker: threats by phone"])
    apply_triage(case, triage("mau tanya jadwal siaran"), now=now)
    assert case.urgency is Urgency.high
    apply_triage(case, triage("saya dipukul majikan"), now=now)
    assert case.urgency is Urgency.critical
    assert [i["indicator"] for i in case.indicators] == ["physical_violence"]
