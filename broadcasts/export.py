"""``desbumi export-usb``: the next days' segments on a USB stick, for a station offline.

It synthesises approved text items that have no radio audio yet, plans the air times of
the next N days, assembles what is not built (here, with progress), then copies each
segment's MP3 and cue sheet into ``DIR/<programme>/``, with ``manifest.json`` (air
times in UTC and local time, durations, sizes, sha256, the items), ``SHA256SUMS`` (check
it with ``sha256sum -c SHA256SUMS``) and an M3U playlist in air order. Files are copied
to a temporary name and renamed, so a stick pulled out early holds no half file under a
real name.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from broadcasts.assembly import file_sha256
from broadcasts.errors import AssemblyError, NotFound
from broadcasts.library import unrendered
from broadcasts.render import RenderContentHandler
from broadcasts.schedule import schedule_segments
from broadcasts.segments import AssembleSegmentHandler
from broadcasts.stations import get_station
from core.clock import Clock, local_time, zone_abbreviation
from core.db import Database
from core.models import Programme, Segment
from core.settings import Settings
from core.states import SegmentStatus


@dataclass
class ExportReport:
    written: list[Path] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def export_usb(
    settings: Settings,
    db: Database,
    clock: Clock,
    target: Path,
    *,
    days: int,
    station_slug: str | None = None,
    echo: Callable[[str], None] = print,
) -> ExportReport:
    """Write the segments of the next ``days`` days (one station's programmes, or all)."""
    now = clock.now()
    renderer = RenderContentHandler(settings, db, clock)
    with db.read_session() as session, session.begin():
        pending = unrendered(session)
    for number, item_id in enumerate(pending, start=1):
        echo(f"synthesising content {number}/{len(pending)} (id {item_id})")
        renderer.render_now(item_id)
    with db.transaction() as session:
        schedule_segments(session, settings, now, horizon=timedelta(days=days))
    with db.read_session() as session, session.begin():
        query = select(Programme).where(Programme.is_active.is_(True))
        if station_slug is not None:
            station = get_station(session, station_slug)
            wanted = {p.id for p in station.programmes}
            if not wanted:
                raise NotFound(f"station {station_slug!r} has no programmes")
            query = query.where(Programme.id.in_(wanted))
        programmes = {p.id: (p.slug, p.name) for p in session.scalars(query)}
        segment_ids = list(
            session.scalars(
                select(Segment.id)
                .where(
                    Segment.programme_id.in_(list(programmes)),
                    Segment.air_at >= now,
                    Segment.air_at < now + timedelta(days=days),
                    Segment.status != SegmentStatus.cancelled,
                )
                .order_by(Segment.air_at)
            )
        )
    assembler = AssembleSegmentHandler(settings, db, clock)
    report = ExportReport()
    entries: list[dict[str, object]] = []
    target.mkdir(parents=True, exist_ok=True)
    for number, segment_id in enumerate(segment_ids, start=1):
        echo(f"segment {number}/{len(segment_ids)} (id {segment_id}): assembling if needed")
        try:
            assembler.build_now(segment_id)
        except AssemblyError as exc:
            report.missing.append(f"segment {segment_id}: {exc}")
            continue
        with db.read_session() as session, session.begin():
            segment = session.get(Segment, segment_id)
            assert segment is not None  # noqa: S101 - listed above
            if segment.status not in (SegmentStatus.ready, SegmentStatus.aired):
                report.missing.append(f"segment {segment_id}: {segment.status}")
                continue
            entries.append(
                _copy(settings, target, segment, programmes[segment.programme_id], report)
            )
    _write(target / "manifest.json", _manifest(now.isoformat(), days, station_slug, entries))
    sums = [f"{e['sha256']}  {e['file']}" for e in entries]
    sums += [f"{e['cue_sha256']}  {e['cue']}" for e in entries]
    _write(target / "SHA256SUMS", "\n".join(sums) + ("\n" if sums else ""))
    playlist = ["#EXTM3U"]
    for e in entries:
        playlist += [f"#EXTINF:{round(float(str(e['duration_s'])))},{e['title']}", str(e["file"])]
    _write(target / "playlist.m3u", "\n".join(playlist) + "\n")
    return report


def _copy(
    settings: Settings,
    target: Path,
    segment: Segment,
    programme: tuple[str, str],
    report: ExportReport,
) -> dict[str, object]:
    slug, name = programme
    zone = segment.programme.slots[0].timezone if segment.programme.slots else settings.timezone
    local = local_time(segment.air_at, zone)
    folder = target / slug
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for fmt in ("mp3", "cue"):
        source = settings.data_dir / segment.files[fmt]
        destination = folder / source.name
        partial = folder / f".{source.name}.partial"
        shutil.copyfile(source, partial)
        partial.replace(destination)
        report.written.append(destination)
        files[fmt] = (destination.relative_to(target).as_posix(), file_sha256(destination))
    return {
        "programme": slug,
        "title": f"{name} {local:%d-%m-%Y %H:%M} {zone_abbreviation(zone)}",
        "segment_id": segment.id,
        "air_at": segment.air_at.isoformat().replace("+00:00", "Z"),
        "local_time": local.isoformat(),
        "timezone": zone,
        "duration_s": segment.duration_s,
        "file": files["mp3"][0],
        "size": (target / files["mp3"][0]).stat().st_size,
        "sha256": files["mp3"][1],
        "cue": files["cue"][0],
        "cue_sha256": files["cue"][1],
        "items": [
            {"content_id": c.get("content_id"), "slug": c.get("slug"), "title": c.get("title")}
            for c in segment.cue_sheet
            if c.get("kind") == "item"
        ],
    }


def _manifest(
    generated_at: str, days: int, station: str | None, entries: list[dict[str, object]]
) -> str:
    body = {
        "generated_at": generated_at,
        "days": days,
        "station": station,
        "segments": entries,
        "verify": "sha256sum -c SHA256SUMS",
    }
    return json.dumps(body, ensure_ascii=False, indent=2) + "\n"


def _write(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
