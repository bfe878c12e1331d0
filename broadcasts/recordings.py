"""Uploaded recordings: checked with ffprobe, converted once, kept as uploaded.

An editor's upload may be in any format ffmpeg reads (WAV, MP3, M4A/AAC, OGG, AMR from a
phone, FLAC ...). It is refused with the reason when it is empty, too large, too long,
too short or not audio (:class:`RecordingRejected`); otherwise ONE ffmpeg run writes the
radio master (44.1 kHz mono WAV) and the hotline's 8 kHz ``sln``/``ulaw``/``gsm`` into the
version's folder, its loudness is measured once, and the original is kept beside them.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from audio.errors import AudioError
from audio.ffmpeg import convert_to_master
from audio.ffprobe import probe_media
from audio.mastering import measure_loudness
from broadcasts.errors import RecordingRejected
from core.settings import Settings


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


@dataclass(frozen=True)
class StoredRecording:
    """Where a converted upload lives (relative to the data directory) and what it is."""

    name: str
    format_name: str
    phone_path: str
    radio_path: str
    duration_s: float
    loudness_lufs: float
    true_peak_db: float


def store_recording(
    settings: Settings, upload: Path, original_name: str, folder: Path
) -> StoredRecording:
    """Check ``upload`` and convert it into ``DATA_DIR/folder`` (files renamed into
    place, so the hotline never reads a half-written one). ``upload`` stays where it is."""
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
    target = settings.data_dir / folder
    target.mkdir(parents=True, exist_ok=True)
    suffix = re.sub(r"[^a-z0-9.]", "", Path(name).suffix.lower())[:10] or ".bin"
    with tempfile.TemporaryDirectory(dir=target) as tmp:
        staged = Path(tmp)
        try:
            convert_to_master(settings.ffmpeg, upload, staged / "radio.wav", staged / "phone")
            loudness = measure_loudness(settings.ffmpeg, ["-i", str(staged / "radio.wav")])
        except AudioError as exc:
            raise RecordingRejected(str(exc).replace(upload.name, name)) from None
        shutil.copyfile(upload, staged / f"original{suffix}")
        for old in target.glob("original.*"):
            old.unlink()
        for produced in staged.iterdir():
            produced.replace(target / produced.name)
    return StoredRecording(
        name=name,
        format_name=info.format_name,
        phone_path=str(folder / "phone.sln"),
        radio_path=str(folder / "radio.wav"),
        duration_s=round(info.duration_s, 3),
        loudness_lufs=loudness.integrated_lufs,
        true_peak_db=loudness.true_peak_db,
    )


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
