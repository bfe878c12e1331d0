"""Radio commands: ``desbumi station ...``, ``desbumi programme ...``, ``desbumi radio ...``
and ``desbumi export-usb``. Registered on the main app by :func:`register`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import select

from broadcasts import schedule, stations
from broadcasts.export import export_usb
from broadcasts.library import unrendered
from broadcasts.render import RenderContentHandler
from core.clock import SystemClock, local_time, zone_abbreviation
from core.db import Database
from core.models import Programme, Segment
from core.settings import Settings

station_app = typer.Typer(help="Radio stations and their keys.", no_args_is_help=True)
programme_app = typer.Typer(help="Radio programmes and their air times.", no_args_is_help=True)
radio_app = typer.Typer(help="Segments: plan, build, and what aired.", no_args_is_help=True)

_context: dict[str, Callable[[], object]] = {}


def register(
    app: typer.Typer, settings: Callable[[], Settings], database: Callable[[], Database]
) -> None:
    """Add the radio commands to ``app``; ``settings``/``database`` build them lazily."""
    _context["settings"] = settings
    _context["database"] = database
    app.add_typer(station_app, name="station")
    app.add_typer(programme_app, name="programme")
    app.add_typer(radio_app, name="radio")
    app.command("export-usb")(export_usb_command)


def _settings() -> Settings:
    value = _context["settings"]()
    assert isinstance(value, Settings)  # noqa: S101 - set by register()
    return value


def _db() -> Database:
    value = _context["database"]()
    assert isinstance(value, Database)  # noqa: S101 - set by register()
    return value


def echo_feed_urls(settings: Settings, key: str, programmes: Sequence[str]) -> None:
    """Print a station's feed URLs for ``key`` (a key just made: it is in every URL)."""
    base = settings.radio.public_url or f"http://{settings.api.host}:{settings.api.port}"
    for slug in programmes:
        typer.echo(f"  feed for {slug}: {base}/radio/{key}/{slug}.xml")
    typer.echo(f"  all programmes: {base}/radio/{key}/programmes.json")


@station_app.command("add")
def station_add(
    slug: str,
    name: Annotated[str, typer.Option(help="The station's name.")],
    timezone: Annotated[str, typer.Option(help="WIB, WITA, WIT or an IANA name.")] = "WIB",
    district: Annotated[str | None, typer.Option(help="District code (optional).")] = None,
    programme: Annotated[
        list[str] | None, typer.Option(help="A programme it may pull (repeat for several).")
    ] = None,
) -> None:
    """Add a station; its key is shown once."""
    db = _db()
    with db.transaction() as session:
        _station, key = stations.create_station(
            session,
            slug=slug,
            name=name,
            timezone=timezone,
            district_code=district,
            now=SystemClock().now(),
        )
        for item in programme or []:
            schedule.attach_station(session, item, slug)
    typer.echo(f"station {slug} added\nkey: {key}\n(shown once; give it to the station)")
    echo_feed_urls(_settings(), key, programme or [])


@station_app.command("list")
def station_list() -> None:
    """Stations, their programmes, key prefix and when they last fetched anything."""
    db = _db()
    with db.read_session() as session, session.begin():
        for station in stations.list_stations(session):
            seen = (
                station.last_seen_at.isoformat(timespec="minutes")
                if station.last_seen_at
                else "never"
            )
            names = ",".join(sorted(p.slug for p in station.programmes)) or "-"
            typer.echo(
                f"{station.slug:<28} {zone_abbreviation(station.timezone):<5} "
                f"key={station.api_key_prefix}...  programmes={names}  last seen {seen}"
            )


@station_app.command("new-key")
def station_new_key(slug: str) -> None:
    """Issue a new key (shown once); the old one stops working at once."""
    db = _db()
    with db.transaction() as session:
        key = stations.new_key(session, slug)
        programmes = sorted(p.slug for p in stations.get_station(session, slug).programmes)
    typer.echo(f"new key for {slug}: {key}\n(shown once; the old key no longer works)")
    echo_feed_urls(_settings(), key, programmes)


@station_app.command("attach")
def station_attach(station: str, programme: str) -> None:
    """Let a station pull a programme."""
    db = _db()
    with db.transaction() as session:
        schedule.attach_station(session, programme, station)
    typer.echo(f"{station} now pulls {programme}")


@programme_app.command("add")
def programme_add(
    slug: str,
    name: Annotated[str, typer.Option(help="e.g. Kabar Migran")],
    language: Annotated[str, typer.Option(help="Language of its content.")] = "id",
    minutes: Annotated[float, typer.Option(help="Target length in minutes.")] = 10,
    topic: Annotated[
        list[str] | None, typer.Option(help="A topic to rotate through (repeat); none: all.")
    ] = None,
    repeat_days: Annotated[int, typer.Option(help="Do not repeat an item within N days.")] = 7,
    intro: Annotated[str, typer.Option(help="Spoken after the opening jingle.")] = "",
    outro: Annotated[str, typer.Option(help="Spoken before the closing jingle.")] = "",
) -> None:
    """Add a programme (then give it air times with `programme slot-add`)."""
    db = _db()
    with db.transaction() as session:
        schedule.create_programme(
            session,
            slug=slug,
            name=name,
            now=SystemClock().now(),
            language=language,
            target_duration_s=round(minutes * 60),
            topics=topic or [],
            repeat_window_days=repeat_days,
            intro_text=intro,
            outro_text=outro,
        )
    typer.echo(f"programme {slug} added")


@programme_app.command("jingle")
def programme_jingle(
    programme: str,
    path: Annotated[Path, typer.Argument(help="A sound file (any format), at most 60 s.")],
) -> None:
    """Use an uploaded jingle at the start and end of the programme's segments."""
    settings, db = _settings(), _db()
    with db.transaction() as session:
        seconds = schedule.set_jingle(session, settings, programme, path)
    typer.echo(f"jingle of {programme} set ({seconds:.1f} s); new segments use it")


@programme_app.command("slot-add")
def programme_slot_add(
    programme: str,
    rrule: Annotated[str, typer.Option(help="RFC 5545 RRULE, e.g. FREQ=WEEKLY;BYDAY=MO,TH")],
    start: Annotated[str, typer.Option(help="First local air time, e.g. 2026-01-05T19:00")],
    timezone: Annotated[str, typer.Option(help="WIB, WITA, WIT or an IANA name.")] = "WIB",
) -> None:
    """Add a recurring air time in local time."""
    db = _db()
    with db.transaction() as session:
        slot = schedule.add_slot(
            session, programme, rrule=rrule, dtstart_local=start, timezone=timezone
        )
        slot_id = slot.id
    typer.echo(f"slot {slot_id} added to {programme}")


@programme_app.command("slot-remove")
def programme_slot_remove(slot_id: int) -> None:
    """Remove an air time; its segments not yet aired are cancelled."""
    db = _db()
    with db.transaction() as session:
        cancelled = schedule.remove_slot(session, slot_id, now=SystemClock().now())
    typer.echo(f"slot {slot_id} removed; {cancelled} segment(s) cancelled")


@programme_app.command("list")
def programme_list() -> None:
    """Programmes with their slots, stations and next air times."""
    db = _db()
    now = SystemClock().now()
    with db.read_session() as session, session.begin():
        for programme in session.scalars(select(Programme).order_by(Programme.slug)):
            names = ",".join(sorted(s.slug for s in programme.stations)) or "-"
            typer.echo(
                f"{programme.slug}  {programme.name}  {programme.language}  "
                f"{programme.target_duration_s // 60} min  stations={names}"
            )
            for slot in programme.slots:
                typer.echo(
                    f"  slot {slot.id}: {slot.rrule} from {slot.dtstart_local} {slot.timezone}"
                )
            for air in stations.upcoming(session, [programme], now, 7)[:4]:
                local = local_time(air.air_at, air.timezone)
                typer.echo(
                    f"    {local:%a %d %b %H:%M} {zone_abbreviation(air.timezone)}: {air.status}"
                )


@radio_app.command("plan")
def radio_plan(
    days: Annotated[float, typer.Option(help="Plan this far ahead.")] = 1.0,
) -> None:
    """Plan and queue the segments now (the scheduler does this every five minutes)."""
    db = _db()
    with db.transaction() as session:
        report = schedule.schedule_segments(
            session, _settings(), SystemClock().now(), horizon=timedelta(days=days)
        )
    typer.echo(
        f"{report.planned} segment(s) planned, {report.replanned} planned again, "
        f"{report.empty} air time(s) without playable content"
    )


@radio_app.command("render")
def radio_render() -> None:
    """Synthesise every approved text item that has no radio audio yet (the worker does
    this after approval)."""
    settings, db = _settings(), _db()
    with db.read_session() as session, session.begin():
        pending = unrendered(session)
    handler = RenderContentHandler(settings, db, SystemClock())
    for number, item_id in enumerate(pending, start=1):
        handler.render_now(item_id)
        typer.echo(f"synthesised {number}/{len(pending)} (content item {item_id})")
    typer.echo(f"{len(pending)} item(s) synthesised")


@radio_app.command("segments")
def radio_segments(
    days: Annotated[int, typer.Option(help="Show this many days back and ahead.")] = 7,
) -> None:
    """Segments with their state, progress and air time."""
    db = _db()
    now = SystemClock().now()
    with db.read_session() as session, session.begin():
        rows = session.scalars(
            select(Segment)
            .where(
                Segment.air_at >= now - timedelta(days=days),
                Segment.air_at < now + timedelta(days=days),
            )
            .order_by(Segment.air_at)
        ).all()
        for segment in rows:
            zone = (
                segment.programme.slots[0].timezone
                if segment.programme.slots
                else _settings().timezone
            )
            local = local_time(segment.air_at, zone)
            extra = f"{segment.progress:.0%}" if segment.status == "assembling" else ""
            length = f"{segment.duration_s:.0f} s" if segment.duration_s else ""
            typer.echo(
                f"{segment.id:>5}  {segment.programme.slug:<16} {local:%a %d %b %H:%M} "
                f"{zone_abbreviation(zone):<4} {segment.status:<10} {extra:<4} {length:<7} "
                f"{len(segment.planned_content_ids)} item(s)  {segment.error or ''}"
            )
    if not rows:
        typer.echo("no segments")


@radio_app.command("aired")
def radio_aired(
    days: Annotated[int, typer.Option(help="Show this many days back.")] = 7,
) -> None:
    """The playout log: what stations reported as aired."""
    db = _db()
    now = SystemClock().now()
    with db.read_session() as session, session.begin():
        rows = stations.airplay_log(session, now - timedelta(days=days))
    for row in rows:
        typer.echo(
            f"{row.aired_at.isoformat(timespec='minutes')}  {row.station:<28} "
            f"{row.programme:<16} segment {row.segment_id} (planned for "
            f"{row.air_at.isoformat(timespec='minutes')})"
        )
    if not rows:
        typer.echo(f"nothing reported as aired in the last {days} day(s)")


def export_usb_command(
    directory: Annotated[Path, typer.Argument(help="Where to write (e.g. the USB stick).")],
    days: Annotated[int, typer.Option(help="Segments of the next N days.")] = 7,
    station: Annotated[str | None, typer.Option(help="Only this station's programmes.")] = None,
) -> None:
    """Write the next N days of segments with a manifest and sha256 checksums, building
    any that are not ready yet (with progress)."""
    settings, db = _settings(), _db()
    report = export_usb(
        settings, db, SystemClock(), directory, days=days, station_slug=station, echo=typer.echo
    )
    mp3s = [p for p in report.written if p.suffix == ".mp3"]
    typer.echo(f"{len(mp3s)} segment(s) written to {directory} with manifest.json and SHA256SUMS")
    for problem in report.missing:
        typer.echo(f"not exported: {problem}")
    typer.echo(f"check on the station's computer: cd {directory} && sha256sum -c SHA256SUMS")
