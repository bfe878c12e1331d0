"""The radio side of the seeded world: a second editor, a programme on Mondays and
Thursdays 19:00 WITA, a station, an item in review and a ready segment with a real MP3.

Added by :func:`seed_radio` on top of ``conftest.seed_world`` (so it runs on SQLite and
PostgreSQL like the rest). The item is written by the second editor, so the seeded
admin and editor may both approve it (four eyes).
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime

from admin_api import auth
from broadcasts import library, schedule, stations
from core.models import Segment, User
from core.states import SegmentStatus, UserRole
from tests.admin_api.conftest import T0, World, password_hash, write_wav

# The Monday after the world's clock (T0 + 1 day is Saturday 21 November 2026).
AIR_AT = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)  # 19:00 WITA
TEXT = "Jangan bayar calo."


def make_mp3(path, seconds: float = 2.0) -> None:  # type: ignore[no-untyped-def]
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency=440:duration={seconds}",
            "-c:a",
            "libmp3lame",
            "-b:a",
            "64k",
            str(path),
        ],
        check=True,
    )


def seed_radio(world: World) -> None:
    settings = world.settings
    wav = settings.data_dir / "content" / "jangan-bayar-calo" / "v1" / "speech.wav"
    write_wav(wav, seconds=1.5, rate=44100)
    mp3 = settings.data_dir / "segments" / "kabar-migran" / "1" / "kabar.mp3"
    make_mp3(mp3)
    with world.db.transaction() as s:
        rina = User(
            username="rina",
            full_name="Rina",
            role=UserRole.editor,
            password_hash=password_hash(),
            created_at=T0,
        )
        s.add(rina)
        s.flush()
        _row, raw = auth.issue_api_token(s, rina, name="test", now=T0, days=None)
        world.tokens["editor2"] = raw
        world.ids["editor2"] = rina.id
        programme = schedule.create_programme(
            s, slug="kabar-migran", name="Kabar Migran", now=T0, target_duration_s=60
        )
        schedule.add_slot(
            s,
            "kabar-migran",
            rrule="FREQ=WEEKLY;BYDAY=MO,TH",
            dtstart_local="2026-11-02T19:00:00",
            timezone="WITA",
        )
        stations.create_station(s, slug="radio-lotim", name="Radio Lotim", timezone="WITA", now=T0)
        schedule.attach_station(s, "kabar-migran", "radio-lotim")
        item = library.create_draft(
            s,
            actor_id=rina.id,
            now=T0,
            slug="jangan-bayar-calo",
            title="Jangan bayar calo",
            topic="fees",
            language="id",
            body_text=TEXT,
        )
        item.radio_audio_path = str(wav.relative_to(settings.data_dir))
        item.duration_s = 1.5
        library.submit(s, item.id, actor_id=rina.id, now=T0)
        segment = Segment(
            programme_id=programme.id,
            slot_id=programme.slots[0].id,
            air_at=AIR_AT,
            status=SegmentStatus.ready,
            files={"mp3": str(mp3.relative_to(settings.data_dir))},
            file_info={"mp3": {"size": mp3.stat().st_size, "sha256": "0" * 64}},
            cue_sheet=[
                {
                    "kind": "jingle",
                    "offset_s": 0.0,
                    "duration_s": 0.5,
                    "content_id": None,
                    "slug": "",
                    "version": 0,
                    "title": "jingle",
                },
                {
                    "kind": "item",
                    "offset_s": 0.5,
                    "duration_s": 1.5,
                    "content_id": item.id,
                    "slug": item.slug,
                    "version": 1,
                    "title": item.title,
                },
            ],
            planned_content_ids=[item.id],
            duration_s=2.0,
            created_at=T0,
            updated_at=T0,
        )
        s.add(segment)
        s.flush()
        world.ids.update(item=item.id, segment=segment.id, programme=programme.id)
