"""Demo case reports: a newcomer can log in and work a case end to end.

Each report is spoken by espeak-ng (through :mod:`audio.tts`), stored as an 8 kHz WAV
like a hotline recording, and has a "machine" transcript whose word timings are
estimated from the word lengths (there is no Indonesian speech model to produce real
ones), triaged by the real triage. One report waits for a model, so the newcomer also
types a transcript. All names and numbers are made up.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from audio.errors import AudioError
from audio.tts import PromptSynthesizer
from core.callers import register_caller
from core.cases import create_report_case
from core.models import Call, CallbackRequest, Case, Recording, Transcript, Village
from core.recordings import sha256_of
from core.security import PhoneVault
from core.settings import Settings
from core.states import (
    CallbackSource,
    CallbackState,
    CallOutcome,
    Sex,
    TranscriptionStatus,
)
from transcription.service import apply_triage
from transcription.triage import triage

SAMPLE_RATE = 8000


@dataclass(frozen=True)
class DemoReport:
    reference: str
    village: str
    number: str
    sex: Sex
    hours_ago: float
    hints: dict[str, str]
    text: str
    # False: the recording waits for a speech model (no transcript yet).
    transcribed: bool = True


REPORTS = (
    DemoReport(
        "418203",
        "5203001",
        "+6281900000101",
        Sex.female,
        3,
        {"problem": "violence", "country": "MY"},
        "Saya bekerja di Malaysia. Majikan sering memukul saya dan paspor saya ditahan. "
        "Saya tidak boleh keluar rumah. Tolong bantu saya.",
    ),
    DemoReport(
        "275910",
        "3307001",
        "+6281900000102",
        Sex.female,
        26,
        {"problem": "unpaid_wages", "country": "SA"},
        "Gaji saya tidak dibayar sudah lima bulan. Agen bilang saya harus bayar utang dulu "
        "sebelum boleh pulang.",
    ),
    DemoReport(
        "631487",
        "3509001",
        "+6281900000103",
        Sex.male,
        50,
        {"country": "HK"},
        "Kontrak saya sudah selesai dan saya mau pulang ke Indonesia. Saya butuh bantuan "
        "untuk pulang.",
    ),
    DemoReport(
        "502936",
        "3510001",
        "+6281900000104",
        Sex.female,
        5,
        {"country": "TW"},
        "Anak saya di Taiwan tidak bisa dihubungi sejak bulan lalu. Saya khawatir.",
        transcribed=False,
    ),
)
CALLBACK_NUMBER = "+6281900000105"


def _timed_words(text: str, duration_s: float) -> list[dict[str, float | str]]:
    """Word timings spread over the recording by word length (an estimate, see above)."""
    words = text.replace(".", " ").replace(",", " ").split()
    lead, speech = 0.3, max(0.5, duration_s - 0.6)
    total = sum(len(w) + 1 for w in words) or 1
    out: list[dict[str, float | str]] = []
    at = lead
    for i, word in enumerate(words):
        length = speech * (len(word) + 1) / total
        # Every ninth word is marked unsure, so the page shows what that looks like.
        conf = 0.45 if i % 9 == 4 else 0.93
        out.append(
            {"word": word, "start": round(at, 2), "end": round(at + length * 0.9, 2), "conf": conf}
        )
        at += length
    return out


def _record(synth: PromptSynthesizer, text: str, target: Path) -> float:
    """Speak ``text`` into an 8 kHz WAV at ``target``; returns its duration."""
    prompt = synth.prompt(text, "id")
    pcm = prompt.path("sln").read_bytes()
    target.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(target), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(pcm)
    return len(pcm) / (2 * SAMPLE_RATE)


def seed_demo_cases(session: Session, now: datetime, settings: Settings) -> dict[str, int]:
    """Add the demo reports that are missing; returns how many cases and recordings."""
    added = {"cases": 0, "recordings": 0}
    vault = PhoneVault(settings.require_secret())
    synth = PromptSynthesizer(settings.data_dir / "prompts" / "demo", settings.ffmpeg)
    for report in REPORTS:
        if session.scalar(select(Case.id).where(Case.reference == report.reference)):
            continue
        at = now - timedelta(hours=report.hours_ago)
        village = session.scalar(select(Village).where(Village.code == report.village))
        caller = register_caller(session, vault, report.number, now=at)
        caller.sex = report.sex
        caller.home_village_id = village.id if village else None
        call = Call(
            asterisk_uniqueid=f"demo-{report.reference}",
            caller_id=caller.id,
            village_id=village.id if village else None,
            started_at=at,
            ended_at=at + timedelta(minutes=3),
            outcome=CallOutcome.reported,
            menu_path=[],
        )
        session.add(call)
        session.flush()
        case = create_report_case(
            session,
            now=at,
            caller=caller,
            call_id=call.id,
            village_id=village.id if village else None,
            keypad_hints=report.hints,
        )
        case.reference = report.reference
        added["cases"] += 1
        target = settings.data_dir / "recordings" / "demo" / f"{report.reference}.wav"
        try:
            duration = _record(synth, report.text, target)
        except AudioError:
            # No espeak-ng: the case is there all the same, without its voice.
            continue
        recording = Recording(
            case_id=case.id,
            call_id=call.id,
            path=f"recordings/demo/{report.reference}.wav",
            format="wav",
            duration_s=round(duration, 2),
            size_bytes=target.stat().st_size,
            sha256=sha256_of(target),
            language="id",
            transcription=TranscriptionStatus.done
            if report.transcribed
            else TranscriptionStatus.awaiting_model,
            transcription_error=None if report.transcribed else "no model for id (demo)",
            created_at=at,
        )
        session.add(recording)
        session.flush()
        added["recordings"] += 1
        if report.transcribed:
            words = _timed_words(report.text, duration)
            text = " ".join(str(w["word"]) for w in words)
            session.add(
                Transcript(
                    recording_id=recording.id,
                    engine="demo",
                    model="demo: espeak-ng speech, estimated timings",
                    language="id",
                    text=text,
                    words=words,
                    confidence=0.86,
                    created_at=at + timedelta(minutes=4),
                )
            )
            apply_triage(case, triage(text, words=words, hints=report.hints), now=at)
    if session.scalar(select(Call.id).where(Call.asterisk_uniqueid == "demo-callback")) is None:
        caller = register_caller(session, vault, CALLBACK_NUMBER, now=now)
        call = Call(
            asterisk_uniqueid="demo-callback",
            caller_id=caller.id,
            started_at=now - timedelta(hours=2),
            outcome=CallOutcome.callback_requested,
            menu_path=[],
        )
        session.add(call)
        session.flush()
        session.add(
            CallbackRequest(
                caller_id=caller.id,
                phone_hash=caller.phone_hash,
                source=CallbackSource.menu,
                call_id=call.id,
                preferred_time="afternoon",
                state=CallbackState.pending,
                due_at=now - timedelta(hours=2),
                created_at=now - timedelta(hours=2),
                updated_at=now - timedelta(hours=2),
            )
        )
    session.flush()
    return added
