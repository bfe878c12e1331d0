"""The scheduler task and the assembly job around it: idempotence, re-planning when an
item is retired, stale jobs, failures, crossfades, slots."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from broadcasts import library, schedule
from broadcasts.assembly import Part, build, fit_gaps, wav_duration
from broadcasts.errors import AssemblyError, InvalidContent, NotFound
from broadcasts.segments import AssembleSegmentHandler
from core.clock import SystemClock
from core.db import Database
from core.errors import JobFailed
from core.models import ContentItem, Job, Programme, Segment, Slot
from core.queue import ClaimedJob
from core.settings import Settings
from core.states import ContentStatus, SegmentStatus
from tests.broadcasts.conftest import T0, Editors, approved_item, tone
from tests.conftest import make_settings


def _with_audio(db: Database, item_id: int, settings: Settings, seconds: float) -> None:
    """Give a text item radio audio without the TTS (a tone), as the render job would."""
    relative = f"content/tone-{item_id}.wav"
    (settings.data_dir / "content").mkdir(parents=True, exist_ok=True)
    tone(settings.data_dir / relative, seconds, freq=300 + item_id * 40, rate=44100)
    with db.transaction() as s:
        item = s.get(ContentItem, item_id)
        assert item is not None
        library.set_rendered_audio(item, relative, seconds, -20.0, -8.0)


def _programme(db: Database, target: int = 30, **kw: object) -> None:
    with db.transaction() as s:
        schedule.create_programme(
            s,
            slug="kabar",
            name="Kabar",
            now=T0,
            target_duration_s=target,
            **kw,  # type: ignore[arg-type]
        )
        schedule.add_slot(
            s,
            "kabar",
            rrule="FREQ=DAILY;BYHOUR=8,20",
            dtstart_local="2026-11-01T08:00:00",
            timezone="WIB",
        )


def _claimed(job: Job, attempt: int = 1) -> ClaimedJob:
    return ClaimedJob(job.id, job.kind, dict(job.payload), attempt, job.max_attempts, "t")


@pytest.mark.parametrize("backend", ["sqlite"])
def test_retired_item_is_planned_out_of_a_ready_segment(
    db: Database, editors: Editors, settings: Settings
) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    ids = [approved_item(db, editors, f"item-{n}", topic=f"t{n}") for n in range(4)]
    for item_id in ids:
        _with_audio(db, item_id, settings, 6.0)
    _programme(db, target=30, repeat_window_days=0)
    with db.transaction() as s:
        report = schedule.schedule_segments(s, settings, T0)
    assert report.planned == 2  # 08:00 and 20:00 WIB within 24 h
    handler = AssembleSegmentHandler(settings, db, SystemClock())
    with db.read_session() as s:
        first = s.scalars(select(Segment).order_by(Segment.air_at)).first()
        assert first is not None
        job = s.scalars(select(Job).where(Job.payload["segment_id"].as_integer() == first.id)).one()
    effect = handler(_claimed(job))
    assert effect is not None
    with db.transaction() as s:
        effect(s)
    with db.read_session() as s:
        segment = s.get(Segment, first.id)
        assert segment is not None and segment.status is SegmentStatus.ready
        old_plan = list(segment.planned_content_ids)
    with db.transaction() as s:
        library.retire(s, old_plan[0], actor_id=editors.bob, now=T0)
        # Out of the feeds at once, before the scheduler's next tick.
        withdrawn = s.get(Segment, first.id)
        assert withdrawn is not None and withdrawn.status is SegmentStatus.assembling
    with db.transaction() as s:
        report = schedule.schedule_segments(s, settings, T0 + timedelta(minutes=5))
    assert report.replanned >= 1 and report.planned == 0
    with db.read_session() as s:
        segment = s.get(Segment, first.id)
        assert segment is not None
        assert segment.status is SegmentStatus.assembling
        assert old_plan[0] not in segment.planned_content_ids
        jobs = s.scalars(
            select(Job).where(Job.payload["segment_id"].as_integer() == first.id)
        ).all()
    assert len(jobs) == 2
    # The job of the old plan does nothing; the new one builds.
    assert handler(_claimed(job)) is None
    effect = handler(_claimed(jobs[1]))
    assert effect is not None
    with db.transaction() as s:
        effect(s)
        segment = s.get(Segment, first.id)
        assert segment is not None and segment.status is SegmentStatus.ready
        assert [c["content_id"] for c in segment.cue_sheet if c["kind"] == "item"] == list(
            segment.planned_content_ids
        )


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_broken_segment_fails_with_its_reason(
    db: Database, editors: Editors, settings: Settings
) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    item_id = approved_item(db, editors, "lonely")
    _with_audio(db, item_id, settings, 5.0)
    _programme(db, target=30)
    with db.transaction() as s:
        schedule.schedule_segments(s, settings, T0)
    (settings.data_dir / f"content/tone-{item_id}.wav").write_bytes(b"not a wav")
    with db.read_session() as s:
        job = s.scalars(
            select(Job).where(Job.kind == schedule.ASSEMBLE_KIND).order_by(Job.id)
        ).first()
        assert job is not None
    handler = AssembleSegmentHandler(settings, db, SystemClock())
    with pytest.raises(AssemblyError):
        handler(_claimed(job, attempt=1))
    with pytest.raises(JobFailed) as failed:
        handler(_claimed(job, attempt=job.max_attempts))
    assert failed.value.effect is not None
    with db.transaction() as s:
        failed.value.effect(s)
    with db.read_session() as s:
        segment = s.get(Segment, int(job.payload["segment_id"]))
        assert segment is not None and segment.status is SegmentStatus.failed
        assert "not a readable WAV" in (segment.error or "")


def test_crossfaded_build_and_gap_fitting(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "", DESBUMI_RADIO__CROSSFADE_MS="500")
    parts = [
        Part("jingle", tone(tmp_path / "j.wav", 2.0, rate=44100)),
        Part("item", tone(tmp_path / "a.wav", 3.0, freq=500, rate=44100), 1, "a", 1, "A"),
        Part("item", tone(tmp_path / "b.wav", 3.0, freq=600, rate=44100), 2, "b", 1, "B"),
        Part("jingle", tone(tmp_path / "j2.wav", 2.0, rate=44100)),
    ]
    built = build(
        parts,
        target_s=9.0,
        radio=settings.radio,
        ffmpeg="ffmpeg",
        data_dir=tmp_path,
        out_dir=tmp_path / "out",
        name="x",
    )
    assert built.duration_s == pytest.approx(10.0 - 1.5, abs=0.05)
    assert [c.offset_s for c in built.cues] == pytest.approx([0, 1.5, 4.0, 6.5], abs=0.01)
    assert wav_duration(parts[0].path) == pytest.approx(2.0)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "phone.gsm",
        "phone.sln",
        "phone.ulaw",
        "x.cue.json",
        "x.mp3",
        "x.opus",
    ]
    with pytest.raises(AssemblyError, match="nothing to play"):
        build(
            [parts[0]],
            target_s=9.0,
            radio=settings.radio,
            ffmpeg="ffmpeg",
            data_dir=tmp_path,
            out_dir=tmp_path / "out",
            name="y",
        )
    # Gaps stretch to land on the target, within their limits.
    assert fit_gaps([10, 10, 10], 32, 0.8) == pytest.approx([1.0, 1.0])
    assert fit_gaps([10, 10, 10], 60, 0.8) == pytest.approx([3.0, 3.0])
    assert fit_gaps([10, 10, 10], 20, 0.8) == pytest.approx([0.3, 0.3])
    assert fit_gaps([10], 20, 0.8) == []


def test_programmes_and_slots(db: Database) -> None:
    with db.transaction() as s:
        for fields, name in [
            ({"slug": "Bad"}, "slug"),
            ({"target_duration_s": 5}, "target_duration_s"),
            ({"name": " "}, "name"),
        ]:
            with pytest.raises(InvalidContent, match=name):
                schedule.create_programme(
                    s,
                    **{"slug": "p", "name": "P", "now": T0, **fields},  # type: ignore[arg-type]
                )
        schedule.create_programme(s, slug="p", name="P", now=T0)
        with pytest.raises(InvalidContent, match="exists"):
            schedule.create_programme(s, slug="p", name="P", now=T0)
        with pytest.raises(InvalidContent, match="rrule"):
            schedule.add_slot(
                s, "p", rrule="FREQ=NEVER", dtstart_local="2026-01-01T08:00:00", timezone="WIB"
            )
        with pytest.raises(InvalidContent, match="timezone"):
            schedule.add_slot(
                s, "p", rrule="FREQ=DAILY", dtstart_local="2026-01-01T08:00:00", timezone="Mars"
            )
        with pytest.raises(NotFound):
            schedule.add_slot(
                s, "nope", rrule="FREQ=DAILY", dtstart_local="2026-01-01T08:00:00", timezone="WIB"
            )
        slot = schedule.add_slot(
            s, "p", rrule="FREQ=DAILY", dtstart_local="2026-01-01T08:00:00", timezone="WIT"
        )
        assert slot.timezone == "Asia/Jayapura"
        segment = Segment(
            programme_id=slot.programme_id,
            slot_id=slot.id,
            air_at=T0,
            status=SegmentStatus.planned,
            created_at=T0,
            updated_at=T0,
        )
        s.add(segment)
        s.flush()
        assert schedule.remove_slot(s, slot.id, now=T0) == 1
        assert segment.status is SegmentStatus.cancelled and segment.slot_id is None
        with pytest.raises(NotFound):
            schedule.remove_slot(s, slot.id, now=T0)
        with pytest.raises(NotFound):
            schedule.attach_station(s, "p", "no-station")


@pytest.mark.parametrize("backend", ["sqlite"])
def test_uploaded_jingle(db: Database, settings: Settings, tmp_path: Path) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with db.transaction() as s:
        schedule.create_programme(s, slug="p", name="P", now=T0)
        seconds = schedule.set_jingle(s, settings, "p", tone(tmp_path / "j.ogg", 2.5))
        assert seconds == pytest.approx(2.5, abs=0.05)
        programme = schedule.get_programme(s, "p")
        assert programme.jingle_path == "programmes/p/jingle.wav"
        assert wav_duration(settings.data_dir / programme.jingle_path) == pytest.approx(
            2.5, abs=0.05
        )
        with pytest.raises(InvalidContent, match="at most 60 s"):
            schedule.set_jingle(s, settings, "p", tone(tmp_path / "long.wav", 61))
        text = tmp_path / "notes.mp3"
        text.write_text("not audio\n" * 50)
        with pytest.raises(InvalidContent, match="jingle: notes.mp3"):
            schedule.set_jingle(s, settings, "p", text)


def test_approved_text_never_synthesised_gets_queued_once(db: Database, settings: Settings) -> None:
    with db.transaction() as s:
        # As demo data arrives: approved without going through library.approve.
        s.add(
            ContentItem(
                slug="seeded",
                version=1,
                topic="fees",
                language="id",
                title="t",
                body_text="Halo.",
                status=ContentStatus.approved,
                approved_at=T0,
                created_at=T0,
                updated_at=T0,
            )
        )
    for _ in range(2):
        with db.transaction() as s:
            schedule.schedule_segments(s, settings, T0)
    with db.read_session() as s:
        assert s.scalars(select(Job.kind)).all() == [library.RENDER_KIND]


_offsets = st.integers(min_value=-72, max_value=96).map(lambda h: T0 + timedelta(hours=h))


@pytest.mark.parametrize("backend", ["sqlite"])
@hypothesis_settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(list(ContentStatus)),
            st.none() | _offsets,
            st.none() | _offsets,
            st.none() | st.floats(min_value=5, max_value=200),
            st.booleans(),
            st.sampled_from(["id", "ms"]),
        ),
        max_size=25,
    ),
    now=_offsets,
)
def test_the_scheduler_never_plans_unplayable_content(
    db: Database,
    settings: Settings,
    rows: list[tuple],
    now: datetime,  # type: ignore[type-arg]
) -> None:
    """Through the database: whatever the library holds, every planned item is approved
    and valid at its air time (checked with the SQL predicate the hotline uses)."""
    with db.transaction() as s:
        for table in (Job, Segment, ContentItem, Slot, Programme):
            s.execute(delete(table))
        for n, (status, start, end, duration, priority, language) in enumerate(rows):
            s.add(
                ContentItem(
                    slug=f"s{n % 9}",
                    version=n,
                    topic=f"t{n % 3}",
                    language=language,
                    title="t",
                    status=status,
                    valid_from=start,
                    valid_until=end,
                    duration_s=duration,
                    radio_audio_path="x.wav" if duration else None,
                    priority=priority,
                    approved_at=start,
                    created_at=T0,
                    updated_at=T0,
                )
            )
        schedule.create_programme(
            s, slug="p", name="P", now=T0, target_duration_s=300, repeat_window_days=1
        )
        schedule.add_slot(
            s,
            "p",
            rrule="FREQ=DAILY;BYHOUR=7,19",
            dtstart_local="2026-11-01T07:00:00",
            timezone="WITA",
        )
    with db.transaction() as s:
        schedule.schedule_segments(s, settings, now, horizon=timedelta(days=3))
    with db.read_session() as s:
        for segment in s.scalars(select(Segment)):
            ids = list(segment.planned_content_ids)
            playable = set(
                s.scalars(
                    select(ContentItem.id).where(
                        ContentItem.id.in_(ids),
                        ContentItem.playable_at(segment.air_at),
                        ContentItem.language == "id",
                    )
                )
            )
            assert playable == set(ids)
            assert segment.air_at >= now
