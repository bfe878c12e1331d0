"""Recordings of case reports, and the contract between the hotline and transcription.

The hotline writes a Recording and queues its transcription in the same transaction as
its Case, so a report is never stored without its job (or the job without its file).
Both sides name the job through this module; neither feature imports the other.
"""

from __future__ import annotations

import hashlib
import wave
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import queue
from core.models import Job, Recording

TRANSCRIBE_KIND = "transcribe"
TRANSCRIBE_MAX_ATTEMPTS = 3
# Bytes per second of 8 kHz 16-bit mono, the telephone formats Asterisk records.
_RATES = {"wav": 16_000, "sln": 16_000, "ulaw": 8_000, "alaw": 8_000, "gsm": 1_650}


def enqueue_transcription(session: Session, recording: Recording, *, now: datetime) -> Job:
    """Queue the transcription of ``recording``, in the caller's transaction (once per file)."""
    return queue.enqueue(
        session,
        TRANSCRIBE_KIND,
        {"recording_id": recording.id, "language": recording.language},
        now=now,
        unique_key=f"{TRANSCRIBE_KIND}:{recording.id}",
        max_attempts=TRANSCRIBE_MAX_ATTEMPTS,
    )


# A file no larger than its header holds no audio (Asterisk's WAV header is 44 bytes).
HEADER_BYTES = {"wav": 44}


def has_audio(path: Path, fmt: str) -> bool:
    """Whether the recording at ``path`` holds any audio; False when it is not there."""
    try:
        return path.stat().st_size > HEADER_BYTES.get(fmt, 0)
    except OSError:
        return False


def audio_duration_s(path: Path, fmt: str) -> float:
    """The duration of a telephone recording, from its header or else its size.

    A recording cut by a hangup may have a header that was never finished; its size
    still tells the duration, and the file is kept either way.
    """
    if fmt == "wav":
        try:
            with wave.open(str(path), "rb") as reader:
                frames, rate = reader.getnframes(), reader.getframerate()
            if frames > 0 and rate > 0:
                return frames / rate
        except (wave.Error, EOFError, OSError):
            pass
        return max(0, path.stat().st_size - 44) / _RATES["wav"]
    return path.stat().st_size / _RATES.get(fmt, 16_000)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def stored_path(path: Path, data_dir: Path) -> str:
    """Relative to the data directory when inside it (so it can move), else absolute."""
    try:
        return str(path.resolve().relative_to(data_dir.resolve()))
    except ValueError:
        return str(path.resolve())


# Bound parameters per query: below every SQLite build's limit (999 in old ones) and
# PostgreSQL's (65,535).
_CHUNK = 500


def stored_paths(session: Session, paths: list[str]) -> set[str]:
    """Those of ``paths`` (as :func:`stored_path` gives them) that a Recording names;
    asked in chunks, so years of files never make one query too large."""
    found: set[str] = set()
    for start in range(0, len(paths), _CHUNK):
        chunk = paths[start : start + _CHUNK]
        found.update(session.scalars(select(Recording.path).where(Recording.path.in_(chunk))))
    return found


def add_recording(
    session: Session,
    path: Path,
    *,
    data_dir: Path,
    fmt: str,
    now: datetime,
    language: str,
    case_id: int | None,
    call_id: int | None,
    partial: bool,
) -> Recording:
    """A Recording row for the file at ``path`` (which must exist), with its transcription
    job queued in the same transaction."""
    recording = Recording(
        case_id=case_id,
        call_id=call_id,
        path=stored_path(path, data_dir),
        format=fmt,
        duration_s=round(audio_duration_s(path, fmt), 3),
        size_bytes=path.stat().st_size,
        sha256=sha256_of(path),
        partial=partial,
        language=language,
        created_at=now,
    )
    session.add(recording)
    session.flush()
    enqueue_transcription(session, recording, now=now)
    return recording
