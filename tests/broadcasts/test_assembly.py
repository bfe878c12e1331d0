"""Segment assembly on real ffmpeg, sox and espeak-ng: loudness, true peak, duration,
outputs for radio and the hotline, cue sheet, and the scheduler that queues it all."""

from __future__ import annotations

import json
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from audio.mastering import parse_ebur128_summary
from broadcasts import library, schedule
from broadcasts.render import RenderContentHandler
from broadcasts.segments import AssembleSegmentHandler
from core.clock import SystemClock
from core.db import Database
from core.models import Job, Segment
from core.queue import ClaimedJob
from core.settings import Settings
from core.states import SegmentStatus
from tests.broadcasts.conftest import T0, Editors, approved_item, tone

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])

TEXTS = {
    "dokumen": "Siapkan KTP, kartu keluarga dan akta kelahiran sebelum mendaftar di Dinas "
    "Tenaga Kerja. Jangan memakai dokumen palsu.",
    "biaya": "Pekerja rumah tangga tidak boleh dibebani biaya penempatan. Jangan bayar calo.",
}


def ebur128(path: Path) -> tuple[float, float]:
    done = subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-hide_banner",
            "-nostats",
            "-i",
            str(path),
            "-af",
            "ebur128=peak=true",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    figures = parse_ebur128_summary(done.stderr)
    return figures.integrated_lufs, figures.true_peak_db


def duration(path: Path) -> float:
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(done.stdout)


def run_jobs(db: Database, kind: str, handler: object) -> int:
    with db.read_session() as s:
        jobs = s.scalars(select(Job).where(Job.kind == kind)).all()
    for job in jobs:
        claimed = ClaimedJob(job.id, job.kind, dict(job.payload), 1, job.max_attempts, "t")
        effect = handler(claimed)  # type: ignore[operator]
        if effect is not None:
            with db.transaction() as s:
                effect(s)
    return len(jobs)


def library_with_audio(db: Database, editors: Editors, settings: Settings, tmp: Path) -> None:
    for slug, text in TEXTS.items():
        approved_item(db, editors, slug, text=text, topic=slug)
    run_jobs(db, library.RENDER_KIND, RenderContentHandler(settings, db, SystemClock()))
    # Two uploads: a quiet tone, and loud speech (48 kHz stereo, peaks at full scale) that
    # makes the limiter work.
    quiet = tone(tmp / "quiet.ogg", 9.0, freq=330, volume=0.05)
    speech = tmp / "speech.wav"
    subprocess.run(["espeak-ng", "-v", "id", "-w", str(speech), TEXTS["dokumen"]], check=True)
    loud = tmp / "loud.flac"
    subprocess.run(
        ["sox", str(speech), "-r", "48000", "-c", "2", str(loud), "gain", "-n", "0", "gain", "4"],
        check=True,
        capture_output=True,
    )
    for slug, path in (("rekaman-sunyi", quiet), ("rekaman-keras", loud)):
        with db.transaction() as s:
            item = library.create_draft(
                s,
                actor_id=editors.alice,
                now=T0,
                slug=slug,
                title=slug,
                topic="rekaman",
                language="id",
            )
            library.attach_recording(
                s,
                settings,
                item.id,
                path,
                original_name=path.name,
                actor_id=editors.alice,
                now=T0,
            )
            library.submit(s, item.id, actor_id=editors.alice, now=T0)
            library.approve(s, item.id, actor_id=editors.bob, now=T0)


def test_scheduled_segment_is_built_to_target(
    db: Database, editors: Editors, settings: Settings, tmp_path: Path
) -> None:
    library_with_audio(db, editors, settings, tmp_path)
    with db.transaction() as s:
        programme = schedule.create_programme(
            s,
            slug="kabar",
            name="Kabar Migran",
            now=T0,
            target_duration_s=45,
            intro_text="Kabar Migran.",
            repeat_window_days=0,
        )
        # 19:00 WITA every day: 11:00 UTC.
        schedule.add_slot(
            s,
            programme.slug,
            rrule="FREQ=DAILY",
            dtstart_local="2026-11-01T19:00:00",
            timezone="WITA",
        )
    now = T0 + timedelta(hours=1)
    with db.transaction() as s:
        report = schedule.schedule_segments(s, settings, now)
    assert report.planned == 1
    with db.transaction() as s:
        again = schedule.schedule_segments(s, settings, now)
    assert again.planned == 0  # idempotent
    assert (
        run_jobs(db, schedule.ASSEMBLE_KIND, AssembleSegmentHandler(settings, db, SystemClock()))
        == 1
    )
    with db.read_session() as s:
        segment = s.scalars(select(Segment)).one()
    assert segment.status is SegmentStatus.ready
    assert segment.air_at == T0.replace(hour=11)
    assert segment.progress == 1.0
    mp3 = settings.data_dir / segment.files["mp3"]
    assert mp3.name == "kabar-2026-12-01-1900.mp3"
    integrated, peak = ebur128(mp3)
    assert abs(integrated - settings.radio.loudness_lufs) <= 1.0
    assert peak <= settings.radio.true_peak_db
    opus_integrated, opus_peak = ebur128(settings.data_dir / segment.files["opus"])
    assert abs(opus_integrated - settings.radio.loudness_lufs) <= 1.0
    assert opus_peak <= settings.radio.true_peak_db
    assert abs(duration(mp3) - 45) <= 10
    assert segment.duration_s == pytest.approx(duration(mp3), abs=0.2)
    # The hotline's stem: 8 kHz files beside each other, no extension stored.
    stem = settings.data_dir / segment.files["telephone"]
    for fmt in ("sln", "ulaw", "gsm"):
        assert stem.with_name(f"phone.{fmt}").stat().st_size > 0
    assert stem.with_name("phone.sln").stat().st_size == pytest.approx(
        segment.duration_s * 16000, rel=0.01
    )
    # MP3 is constant bit rate.
    probe = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "stream=bit_rate,sample_rate",
            "-of",
            "csv=p=0",
            str(mp3),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip() == "44100,128000"
    # Cue sheet: the frame, then the planned items in order, with rising offsets.
    cues = segment.cue_sheet
    assert [c["kind"] for c in cues][:2] == ["jingle", "intro"]
    assert cues[-1]["kind"] == "jingle"
    assert [c["content_id"] for c in cues if c["kind"] == "item"] == segment.planned_content_ids
    offsets = [c["offset_s"] for c in cues]
    assert offsets == sorted(offsets) and offsets[0] == 0
    assert cues[-1]["offset_s"] + cues[-1]["duration_s"] == pytest.approx(
        segment.duration_s, abs=0.1
    )
    on_disk = json.loads((settings.data_dir / segment.files["cue"]).read_text())
    assert on_disk["cues"] == cues
    assert segment.file_info["mp3"]["size"] == mp3.stat().st_size
