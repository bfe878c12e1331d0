"""The radio planner: which items air in which segment. Pure: no database, no files, no clock.

:func:`air_times` expands a slot's RFC 5545 RRULE in the slot's own time zone (WIB, WITA,
WIT: a Monday 19:00 WITA slot is 11:00 UTC) and :func:`plan` chooses the items for each air
time in a window after ``now``:

1. only items playable at the air time (:func:`core.models.content_playable`: approved and
   inside the validity window), in the programme's language and topics, whose audio has a
   known duration; of each slug only its newest such version;
2. priority announcements first, newest approval first, exempt from the repeat rule (a
   warning about a fake job offer must be heard every time while it is valid);
3. then the other topics in rotation, one item per topic per round, the least recently
   aired item of a topic first; the rotation starts one topic further at each occurrence
   of the slot, so every topic gets to lead; an item (a slug) that aired, or is planned, within
   ``repeat_window_days`` before the air time is not repeated;
4. filled to the target duration: the segment's expected length stays at or under target
   + tolerance and, if the library allows it, reaches target - tolerance (one swap is tried
   when the greedy fill ends short). What remains is absorbed by the assembly's gaps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr

from broadcasts.errors import InvalidContent
from core.models import content_playable
from core.states import ContentStatus

TOLERANCE_S = 10.0
MIN_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class LibraryItem:
    """One content version as the planner sees it (copied from a ContentItem row)."""

    id: int
    slug: str
    version: int
    topic: str
    language: str
    status: ContentStatus
    duration_s: float | None
    priority: bool = False
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    approved_at: datetime | None = None

    def playable_at(self, moment: datetime) -> bool:
        return content_playable(self.status, self.valid_from, self.valid_until, moment)


@dataclass(frozen=True)
class ProgrammeSpec:
    """What the planner needs of a programme.

    ``frame_s``: the expected length of everything around the items (jingles, intro,
    outro, the gaps between them); ``gap_s``: what each item adds besides its own audio
    (a gap, or minus a crossfade).
    """

    id: int
    language: str
    target_duration_s: float
    topics: tuple[str, ...] = ()
    repeat_window_days: int = 7
    frame_s: float = 0.0
    gap_s: float = 0.0


@dataclass(frozen=True)
class SlotSpec:
    """A recurring air time: ``rrule`` from ``dtstart_local`` (naive, ISO) in ``timezone``."""

    id: int
    programme_id: int
    rrule: str
    dtstart_local: str
    timezone: str


@dataclass(frozen=True)
class Aired:
    """An item that aired, or is planned, in a programme at ``air_at`` (repeat history)."""

    programme_id: int
    slug: str
    air_at: datetime


@dataclass(frozen=True)
class SegmentPlan:
    """The items of one segment, in air order, and its expected length."""

    programme_id: int
    slot_id: int
    air_at: datetime
    content_ids: tuple[int, ...]
    expected_s: float
    target_s: float
    topics: tuple[str, ...] = field(default=())

    @property
    def short_by_s(self) -> float:
        """How far under target - tolerance the library left it (0 when within)."""
        return max(0.0, self.target_s - TOLERANCE_S - self.expected_s)


def parse_rule(spec: SlotSpec) -> rrule:
    """The slot's recurrence with an aware local ``dtstart``; InvalidContent names the fault."""
    try:
        zone = ZoneInfo(spec.timezone)
    except (KeyError, ValueError):
        raise InvalidContent(f"timezone: unknown time zone {spec.timezone!r}") from None
    try:
        start = datetime.fromisoformat(spec.dtstart_local)
    except ValueError:
        raise InvalidContent(
            f"dtstart: {spec.dtstart_local!r} is not a local time like 2026-01-05T19:00:00"
        ) from None
    if start.tzinfo is not None:
        raise InvalidContent("dtstart: give the local wall-clock time without an offset")
    text = spec.rrule.strip().removeprefix("RRULE:")
    try:
        rule = rrulestr(text, dtstart=start.replace(tzinfo=zone))
    except (ValueError, TypeError) as exc:
        raise InvalidContent(f"rrule: {text!r} is not an RFC 5545 RRULE ({exc})") from None
    if not isinstance(rule, rrule):
        raise InvalidContent("rrule: give one RRULE (no RDATE/EXDATE sets)")
    return rule


def air_times(spec: SlotSpec, start: datetime, end: datetime) -> list[datetime]:
    """The slot's air times in ``[start, end)``, in UTC."""
    return [moment for moment, _index in _occurrences(spec, start, end)]


def _occurrences(spec: SlotSpec, start: datetime, end: datetime) -> list[tuple[datetime, int]]:
    """Air times in ``[start, end)`` in UTC, each with its ordinal since the slot began."""
    rule = parse_rule(spec)
    zone = ZoneInfo(spec.timezone)
    moments = rule.between(start.astimezone(zone), end.astimezone(zone), inc=True)
    if not moments:
        return []
    first = rule[0]
    result = []
    for moment in moments:
        if start <= moment < end:
            ordinal = len(rule.between(first, moment, inc=True)) - 1
            result.append((moment.astimezone(UTC), ordinal))
    return result


def plan(
    programmes: Sequence[ProgrammeSpec],
    slots: Sequence[SlotSpec],
    library: Sequence[LibraryItem],
    history: Iterable[Aired],
    now: datetime,
    horizon: timedelta,
    *,
    skip: Iterable[tuple[int, datetime]] = (),
) -> list[SegmentPlan]:
    """Plan every air time of ``slots`` in ``[now, now + horizon)``, earliest first.

    ``history`` is what aired or is planned already (for the repeat rule and the topic
    rotation); ``skip`` holds ``(programme_id, air_at)`` pairs that have a segment already.
    Each new plan joins the history of the plans after it.
    """
    by_id = {p.id: p for p in programmes}
    skipped = set(skip)
    times = sorted(
        (air_at, slot.programme_id, slot.id, ordinal)
        for slot in slots
        if slot.programme_id in by_id
        for air_at, ordinal in _occurrences(slot, now, now + horizon)
    )
    slugs = {item.id: item.slug for item in library}
    aired = list(history)
    plans: list[SegmentPlan] = []
    seen: set[tuple[int, datetime]] = set()
    for air_at, programme_id, slot_id, ordinal in times:
        if (programme_id, air_at) in skipped or (programme_id, air_at) in seen:
            continue  # two slots of one programme at one moment make one segment
        seen.add((programme_id, air_at))
        chosen = select_items(by_id[programme_id], library, aired, air_at, turn=ordinal)
        plans.append(replace(chosen, slot_id=slot_id))
        aired.extend(Aired(programme_id, slugs[i], air_at) for i in chosen.content_ids)
    return plans


def select_items(
    programme: ProgrammeSpec,
    library: Sequence[LibraryItem],
    history: Sequence[Aired],
    air_at: datetime,
    *,
    turn: int = 0,
) -> SegmentPlan:
    """The items of one segment of ``programme`` at ``air_at`` (rules in the module doc);
    ``turn`` is how far the topic rotation has turned (the slot occurrence's ordinal)."""
    eligible = _eligible(programme, library, air_at)
    last_aired: dict[str, datetime] = {}
    for entry in history:
        if entry.programme_id == programme.id and entry.air_at < air_at:
            last_aired[entry.slug] = max(entry.air_at, last_aired.get(entry.slug, MIN_EPOCH))
    window = timedelta(days=programme.repeat_window_days)
    ceiling = programme.target_duration_s + TOLERANCE_S
    total = programme.frame_s
    chosen: list[LibraryItem] = []

    def cost(item: LibraryItem) -> float:
        return (item.duration_s or 0.0) + programme.gap_s

    priority = sorted(
        (i for i in eligible if i.priority),
        key=lambda i: (i.approved_at or MIN_EPOCH, i.id),
        reverse=True,
    )
    for item in priority:
        if total + cost(item) <= ceiling:
            chosen.append(item)
            total += cost(item)
    rest = [
        i
        for i in eligible
        if not i.priority and (i.slug not in last_aired or air_at - last_aired[i.slug] >= window)
    ]
    # Least recently aired first (never aired before anything), then by slug: stable.
    rest.sort(key=lambda i: (last_aired.get(i.slug, MIN_EPOCH), i.slug))
    rotation = _rotation(programme, rest, turn)
    pools = {topic: [i for i in rest if i.topic == topic] for topic in rotation}
    while rotation:
        for topic in list(rotation):
            pick = next((i for i in pools[topic] if total + cost(i) <= ceiling), None)
            if pick is None:
                rotation.remove(topic)
                continue
            pools[topic].remove(pick)
            chosen.append(pick)
            total += cost(pick)
    floor = programme.target_duration_s - TOLERANCE_S
    if total < floor:
        unused = [i for pool in pools.values() for i in pool]
        chosen, total = _improve(chosen, unused, total, cost, floor, ceiling)
    return SegmentPlan(
        programme_id=programme.id,
        slot_id=0,
        air_at=air_at,
        content_ids=tuple(i.id for i in chosen),
        expected_s=round(total, 3),
        target_s=programme.target_duration_s,
        topics=tuple(dict.fromkeys(i.topic for i in chosen)),
    )


def _eligible(
    programme: ProgrammeSpec, library: Sequence[LibraryItem], air_at: datetime
) -> list[LibraryItem]:
    newest: dict[str, LibraryItem] = {}
    for item in library:
        if not (
            item.playable_at(air_at)
            and item.language == programme.language
            and (not programme.topics or item.topic in programme.topics)
            and item.duration_s is not None
            and item.duration_s > 0
        ):
            continue
        if item.slug not in newest or newest[item.slug].version < item.version:
            newest[item.slug] = item
    return sorted(newest.values(), key=lambda i: i.slug)


def _rotation(programme: ProgrammeSpec, rest: Sequence[LibraryItem], turn: int) -> list[str]:
    """Topics in the order this segment takes them: the cycle turns by one per segment."""
    cycle = list(programme.topics) or sorted({i.topic for i in rest})
    if not cycle:
        return []
    turn %= len(cycle)
    ordered = cycle[turn:] + cycle[:turn]
    present = {i.topic for i in rest}
    return [t for t in ordered if t in present]


def _improve(
    chosen: list[LibraryItem],
    unused: list[LibraryItem],
    total: float,
    cost: Callable[[LibraryItem], float],
    floor: float,
    ceiling: float,
) -> tuple[list[LibraryItem], float]:
    """One swap of a chosen non-priority item for a longer unused one, if that lands the
    total inside [floor, ceiling]; otherwise the greedy choice stands."""
    best: tuple[float, int, LibraryItem] | None = None
    for index, old in enumerate(chosen):
        if old.priority:
            continue
        for new in unused:
            candidate = total - cost(old) + cost(new)
            if floor <= candidate <= ceiling and (best is None or candidate > best[0]):
                best = (candidate, index, new)
    if best is None:
        return chosen, total
    candidate, index, new = best
    swapped = list(chosen)
    swapped[index] = new
    return swapped, candidate


def repeat_history(
    rows: Iterable[tuple[int, Sequence[int], datetime]], slugs: Mapping[int, str]
) -> list[Aired]:
    """History entries from ``(programme_id, content_ids, air_at)`` rows of segments."""
    return [
        Aired(programme_id, slugs[content_id], air_at)
        for programme_id, content_ids, air_at in rows
        for content_id in content_ids
        if content_id in slugs
    ]
