"""The planner: air times in village time zones, selection rules, and properties that hold
for any library and schedule (hypothesis)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from broadcasts.errors import InvalidContent
from broadcasts.planner import (
    TOLERANCE_S,
    Aired,
    LibraryItem,
    ProgrammeSpec,
    SlotSpec,
    air_times,
    plan,
    repeat_history,
    select_items,
)
from core.db import Database
from core.models import ContentItem, content_playable
from core.states import ContentStatus

NOW = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)  # a Tuesday
APPROVED = ContentStatus.approved


def item(i: int, topic: str = "fees", duration: float = 60.0, **kw: object) -> LibraryItem:
    fields: dict[str, object] = {
        "id": i,
        "slug": f"item-{i}",
        "version": 1,
        "topic": topic,
        "language": "id",
        "status": APPROVED,
        "duration_s": duration,
        **kw,
    }
    return LibraryItem(**fields)  # type: ignore[arg-type]


def slot(rule: str, start: str, zone: str, programme_id: int = 1, slot_id: int = 1) -> SlotSpec:
    return SlotSpec(slot_id, programme_id, rule, start, zone)


@pytest.mark.parametrize(
    ("zone", "utc_hour"), [("Asia/Jakarta", 12), ("Asia/Makassar", 11), ("Asia/Jayapura", 10)]
)
def test_air_times_are_local_wall_clock(zone: str, utc_hour: int) -> None:
    spec = slot("FREQ=WEEKLY;BYDAY=MO,TH", "2026-01-05T19:00:00", zone)
    times = air_times(spec, NOW, NOW + timedelta(days=7))
    assert [(t.strftime("%a"), t.hour, t.tzinfo) for t in times] == [
        ("Thu", utc_hour, UTC),
        ("Mon", utc_hour, UTC),
    ]


def test_bad_slots_are_named() -> None:
    for spec, field in [
        (slot("FREQ=SOMETIMES", "2026-01-05T19:00:00", "Asia/Jakarta"), "rrule"),
        (slot("FREQ=DAILY", "tomorrow", "Asia/Jakarta"), "dtstart"),
        (slot("FREQ=DAILY", "2026-01-05T19:00:00+07:00", "Asia/Jakarta"), "dtstart"),
        (slot("FREQ=DAILY", "2026-01-05T19:00:00", "Mars/Olympus"), "timezone"),
    ]:
        with pytest.raises(InvalidContent, match=field):
            air_times(spec, NOW, NOW + timedelta(days=1))
    rrule_prefixed = slot("RRULE:FREQ=DAILY;COUNT=2", "2026-12-01T08:00:00", "Asia/Jakarta")
    assert len(air_times(rrule_prefixed, NOW, NOW + timedelta(days=7))) == 2


def test_priority_first_then_topics_in_rotation_within_target() -> None:
    programme = ProgrammeSpec(1, "id", 300, frame_s=20, gap_s=1)
    library = [
        item(1, "fees", 50),
        item(2, "fees", 50),
        item(3, "rights", 50),
        item(4, "rights", 50),
        item(5, "trafficking", 50),
        item(6, "warning", 40, priority=True, approved_at=NOW - timedelta(days=1)),
        item(7, "warning", 30, priority=True, approved_at=NOW - timedelta(days=2)),
        item(8, "fees", 50, language="ms"),
    ]
    chosen = select_items(programme, library, [], NOW)
    assert chosen.content_ids[:2] == (6, 7)
    assert [library[i - 1].topic for i in chosen.content_ids[2:]] == [
        "fees",
        "rights",
        "trafficking",
        "fees",
    ]
    assert chosen.expected_s == 20 + 40 + 30 + 4 * 50 + 6
    assert abs(chosen.expected_s - 300) <= TOLERANCE_S
    # The next occurrence leads with the next topic.
    turned = select_items(programme, library, [], NOW, turn=1)
    assert library[turned.content_ids[2] - 1].topic == "rights"


def test_no_repeat_within_the_window_but_priority_repeats() -> None:
    programme = ProgrammeSpec(1, "id", 130, repeat_window_days=7)
    library = [item(1, duration=60), item(2, duration=60), item(3, duration=60, priority=True)]
    history = [
        Aired(1, "item-1", NOW - timedelta(days=3)),
        Aired(1, "item-3", NOW - timedelta(days=3)),
        Aired(2, "item-2", NOW - timedelta(days=1)),  # another programme: does not count
    ]
    assert select_items(programme, library, history, NOW).content_ids == (3, 2)
    history.append(Aired(1, "item-2", NOW))
    assert select_items(programme, library, history, NOW + timedelta(days=1)).content_ids == (3,)
    later = select_items(programme, library, history, NOW + timedelta(days=4))
    assert later.content_ids == (3, 1)


def test_one_swap_lands_inside_the_tolerance() -> None:
    # Greedy takes 100 + 100 = 200 (short of 290); swapping one for the 195 s item fits.
    programme = ProgrammeSpec(1, "id", 300, topics=("a", "b"))
    library = [item(1, "a", 100), item(2, "b", 100), item(3, "a", 195), item(4, "b", 130)]
    chosen = select_items(programme, library, [], NOW)
    assert 290 <= chosen.expected_s <= 310
    assert chosen.short_by_s == 0


def test_plan_skips_existing_segments_and_feeds_its_own_history() -> None:
    programme = ProgrammeSpec(1, "id", 60, repeat_window_days=2)
    library = [item(1, duration=55), item(2, duration=55)]
    daily = slot("FREQ=DAILY", "2026-11-01T08:00:00", "Asia/Jakarta")
    plans = plan([programme], [daily], library, [], NOW, timedelta(days=3))
    assert [p.air_at.day for p in plans] == [1, 2, 3]
    assert [p.content_ids for p in plans] == [(1,), (2,), (1,)]
    skipped = plan(
        [programme], [daily], library, [], NOW, timedelta(days=3), skip=[(1, plans[0].air_at)]
    )
    assert [p.air_at for p in skipped] == [p.air_at for p in plans[1:]]
    # Items that stopped being playable are simply not there; nothing else to play: empty.
    assert plans[0].short_by_s == 0
    empty = plan([programme], [daily], [], [], NOW, timedelta(days=1))
    assert empty[0].content_ids == () and empty[0].short_by_s > 0
    assert repeat_history([(1, [1, 9], NOW)], {1: "item-1"}) == [Aired(1, "item-1", NOW)]


# --- properties over random libraries and schedules -----------------------------------

ZONES = ["Asia/Jakarta", "Asia/Makassar", "Asia/Jayapura"]
RULES = [
    "FREQ=DAILY",
    "FREQ=DAILY;INTERVAL=2",
    "FREQ=WEEKLY;BYDAY=MO,TH",
    "FREQ=WEEKLY;BYDAY=SA",
    "FREQ=DAILY;BYHOUR=7,19",
]
offsets = st.integers(min_value=-20 * 24, max_value=20 * 24).map(lambda h: NOW + timedelta(hours=h))


@st.composite
def libraries(draw: st.DrawFn) -> list[LibraryItem]:
    count = draw(st.integers(min_value=0, max_value=40))
    result = []
    for i in range(count):
        valid_from = draw(st.none() | offsets)
        valid_until = draw(st.none() | offsets)
        result.append(
            LibraryItem(
                id=i + 1,
                slug=f"s{draw(st.integers(0, count))}",
                version=draw(st.integers(1, 3)),
                topic=draw(st.sampled_from(["fees", "rights", "documents", "trafficking"])),
                language=draw(st.sampled_from(["id", "id", "id", "ms"])),
                status=draw(st.sampled_from(list(ContentStatus))),
                duration_s=draw(st.none() | st.floats(min_value=0, max_value=400)),
                priority=draw(st.booleans()),
                valid_from=valid_from,
                valid_until=valid_until,
                approved_at=draw(st.none() | offsets),
            )
        )
    return result


@st.composite
def schedules(draw: st.DrawFn) -> tuple[list[ProgrammeSpec], list[SlotSpec]]:
    programmes = [
        ProgrammeSpec(
            id=p,
            language=draw(st.sampled_from(["id", "ms"])),
            target_duration_s=draw(st.sampled_from([120, 300, 600, 900])),
            topics=tuple(
                draw(
                    st.lists(
                        st.sampled_from(["fees", "rights", "documents"]), max_size=2, unique=True
                    )
                )
            ),
            repeat_window_days=draw(st.integers(0, 10)),
            frame_s=draw(st.floats(min_value=0, max_value=60)),
            gap_s=draw(st.floats(min_value=-1, max_value=3)),
        )
        for p in (1, 2)
    ]
    slots = [
        SlotSpec(
            s,
            draw(st.sampled_from([1, 2])),
            draw(st.sampled_from(RULES)),
            f"2026-11-{draw(st.integers(1, 28)):02d}T{draw(st.integers(0, 23)):02d}:30:00",
            draw(st.sampled_from(ZONES)),
        )
        for s in range(draw(st.integers(1, 3)))
    ]
    return programmes, slots


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(library=libraries(), schedule=schedules(), now=offsets)
def test_no_unplayable_item_ever_appears(
    library: list[LibraryItem],
    schedule: tuple[list[ProgrammeSpec], list[SlotSpec]],
    now: datetime,
) -> None:
    programmes, slots = schedule
    by_id = {i.id: i for i in library}
    specs = {p.id: p for p in programmes}
    plans = plan(programmes, slots, library, [], now, timedelta(days=5))
    last: dict[tuple[int, str], datetime] = {}
    for segment in plans:
        assert now <= segment.air_at < now + timedelta(days=5)
        programme = specs[segment.programme_id]
        chosen = [by_id[i] for i in segment.content_ids]
        assert len({c.slug for c in chosen}) == len(chosen)
        for c in chosen:
            # Approved and valid at air time: never a draft, a retired or an expired item.
            assert c.status is ContentStatus.approved
            assert c.valid_until is None or c.valid_until > segment.air_at
            assert c.valid_from is None or c.valid_from <= segment.air_at
            assert c.language == programme.language
            assert not programme.topics or c.topic in programme.topics
            # The newest playable version of its slug.
            assert not any(
                o.slug == c.slug
                and o.version > c.version
                and o.playable_at(segment.air_at)
                and o.duration_s
                for o in library
                if o.language == c.language
                and (not programme.topics or o.topic in programme.topics)
            )
            if not c.priority:
                previous = last.get((programme.id, c.slug))
                assert previous is None or segment.air_at - previous >= timedelta(
                    days=programme.repeat_window_days
                )
            last[(programme.id, c.slug)] = segment.air_at
        if chosen:
            assert segment.expected_s <= programme.target_duration_s + TOLERANCE_S
        expected = programme.frame_s + sum((c.duration_s or 0) + programme.gap_s for c in chosen)
        assert segment.expected_s == pytest.approx(expected, abs=0.01)


@settings(max_examples=60, deadline=None)
@given(
    durations=st.lists(st.floats(min_value=15, max_value=90), min_size=40, max_size=60),
    target=st.sampled_from([300, 600, 900]),
    frame=st.floats(min_value=0, max_value=30),
)
def test_a_rich_library_fills_to_the_target(
    durations: list[float], target: int, frame: float
) -> None:
    topics = ["fees", "rights", "documents", "trafficking"]
    library = [item(i + 1, topics[i % 4], d) for i, d in enumerate(durations)]
    if sum(durations) < target + TOLERANCE_S:
        return
    chosen = select_items(
        ProgrammeSpec(1, "id", target, frame_s=frame, gap_s=0.8), library, [], NOW
    )
    assert abs(chosen.expected_s - target) <= TOLERANCE_S


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_sql_and_python_playable_rules_agree(db: Database) -> None:
    """The planner's Python rule and the SQL one the hotline uses choose the same rows."""
    rng = random.Random(5)
    moments = [NOW + timedelta(hours=rng.randint(-300, 300)) for _ in range(40)]
    with db.transaction() as s:
        for i in range(150):
            edges = sorted(rng.sample(moments, 2))
            s.add(
                ContentItem(
                    slug=f"p{i}",
                    version=1,
                    topic="fees",
                    language="id",
                    title="t",
                    status=rng.choice(list(ContentStatus)),
                    valid_from=rng.choice([None, edges[0]]),
                    valid_until=rng.choice([None, edges[1]]),
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
    with db.read_session() as s:
        rows = s.scalars(select(ContentItem)).all()
        for moment in moments:
            in_sql = set(s.scalars(select(ContentItem.id).where(ContentItem.playable_at(moment))))
            in_python = {
                r.id
                for r in rows
                if content_playable(r.status, r.valid_from, r.valid_until, moment)
            }
            assert in_sql == in_python
