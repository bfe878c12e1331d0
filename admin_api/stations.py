"""HTTP for radio stations: podcast feeds, playlists, schedules, downloads, playout log.

Every URL carries the station's key as its first path segment, ``/radio/<key>/...``.
Podcast-subscribing playout systems (LibreTime, AzuraCast) take a feed by URL and
download enclosures by URL: they cannot send a header, so the key has to be in the URL,
and a path segment keeps the URL ending in ``.xml`` (what LibreTime expects). Enclosure
URLs carry the key too. Keys travel in URLs, so serve over HTTPS beyond the village LAN,
keep access logs off (the default) and issue a new key when one leaks
(``desbumi station new-key``). A wrong, revoked or missing key gets the same 401; a
valid key asking for another station's programme gets the same 404 as a programme that
does not exist.
"""

from __future__ import annotations

import base64
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from broadcasts import feeds, stations
from broadcasts.errors import BroadcastError, InvalidContent, NotFound, StationAuthFailed
from core.clock import SystemClock, local_time, zone_abbreviation
from core.db import Database
from core.models import Programme, Segment, Station
from core.settings import Settings

router = APIRouter(prefix="/radio", tags=["radio stations"])

MEDIA = {"mp3": "audio/mpeg", "opus": "audio/ogg", "cue.json": "application/json"}
_FILE = re.compile(r"^(\d+)\.(mp3|opus|cue\.json|sha256)$")
_STATUS = {StationAuthFailed: 401, NotFound: 404, InvalidContent: 422}


def install(app: FastAPI) -> None:
    """Add the station routes and map the broadcasts errors to HTTP."""
    app.include_router(router)
    app.add_exception_handler(BroadcastError, station_error)


async def station_error(_request: Request, exc: Exception) -> JSONResponse:
    """A broadcasts error as a station sees it: JSON with the code and message."""
    assert isinstance(exc, BroadcastError)  # noqa: S101 - registered for it only
    status = next((code for cls, code in _STATUS.items() if isinstance(exc, cls)), 409)
    headers = {"WWW-Authenticate": 'Bearer realm="desbumi radio"'} if status == 401 else None
    return JSONResponse(
        status_code=status, content={"code": exc.code, "message": str(exc)}, headers=headers
    )


class AiredReport(BaseModel):
    """A station's playout log entry: this segment went on air at ``aired_at``."""

    segment_id: int
    aired_at: datetime | None = None


def _db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _now(request: Request) -> datetime:
    clock = getattr(request.app.state, "clock", None) or SystemClock()
    now: datetime = clock.now()
    return now


def _base(request: Request, key: str) -> str:
    public = _settings(request).radio.public_url
    base = public or str(request.base_url).rstrip("/")
    return f"{base}/radio/{key}"


def _station(request: Request, session: Session, key: str) -> Station:
    station = stations.authenticate(session, key)
    now = _now(request)
    if station.last_seen_at is None or now - station.last_seen_at >= stations.SEEN_EVERY:
        with _db(request).transaction() as write:
            stations.mark_seen(write, station.id, now)
    return station


def _episode(request: Request, key: str, programme: Programme, segment: Segment) -> feeds.Episode:
    info = segment.file_info.get("mp3", {})
    zone = segment_zone(programme, _settings(request))
    local = local_time(segment.air_at, zone)
    items = [c.get("title", "") for c in segment.cue_sheet if c.get("kind") == "item"]
    return feeds.Episode(
        segment_id=segment.id,
        title=f"{programme.name} {local:%d-%m-%Y %H:%M} {zone_abbreviation(zone)}",
        description="; ".join(t for t in items if t) or programme.description,
        url=f"{_base(request, key)}/segments/{segment.id}.mp3",
        length=int(info.get("size", 0)),
        mime_type=MEDIA["mp3"],
        air_at=segment.air_at,
        duration_s=segment.duration_s or 0.0,
        sha256=segment.sha256 or "",
    )


def segment_zone(programme: Programme, settings: Settings) -> str:
    return programme.slots[0].timezone if programme.slots else settings.timezone


@router.get("/{key}/programmes.json", summary="The station's programmes and their feed URLs")
def programmes(request: Request, key: str) -> JSONResponse:
    with _db(request).read_session() as session, session.begin():
        station = _station(request, session, key)
        base = _base(request, key)
        body = {
            "station": station.slug,
            "timezone": station.timezone,
            "programmes": [
                {
                    "slug": p.slug,
                    "name": p.name,
                    "language": p.language,
                    "target_duration_s": p.target_duration_s,
                    "rss": f"{base}/{p.slug}.xml",
                    "m3u": f"{base}/{p.slug}.m3u",
                    "pls": f"{base}/{p.slug}.pls",
                    "schedule": f"{base}/{p.slug}/schedule.json",
                    "latest": f"{base}/{p.slug}/latest.mp3",
                }
                for p in sorted(station.programmes, key=lambda p: p.slug)
            ],
        }
    return JSONResponse(body)


@router.get("/{key}/{programme}.xml", summary="RSS 2.0 podcast feed of a programme")
def rss_feed(request: Request, key: str, programme: str) -> Response:
    with _db(request).read_session() as session, session.begin():
        station = _station(request, session, key)
        found = stations.station_programme(session, station, programme)
        segments = stations.published_segments(session, found)
        episodes = [_episode(request, key, found, s) for s in segments]
        channel = feeds.Channel(
            title=found.name,
            description=found.description or f"{found.name} (DESBUMI)",
            language=found.language,
            link=f"{_base(request, key)}/{found.slug}.xml",
            feed_url=f"{_base(request, key)}/{found.slug}.xml",
            updated_at=max((s.updated_at for s in segments), default=found.created_at),
        )
    return Response(feeds.rss(channel, episodes), media_type="application/rss+xml")


@router.get("/{key}/{programme}.m3u", summary="M3U playlist of a programme's segments")
def m3u_playlist(request: Request, key: str, programme: str) -> Response:
    episodes = _episodes(request, key, programme)
    return Response(feeds.m3u(episodes), media_type="audio/x-mpegurl")


@router.get("/{key}/{programme}.pls", summary="PLS playlist of a programme's segments")
def pls_playlist(request: Request, key: str, programme: str) -> Response:
    episodes = _episodes(request, key, programme)
    return Response(feeds.pls(episodes), media_type="audio/x-scpls")


def _episodes(request: Request, key: str, programme: str) -> list[feeds.Episode]:
    with _db(request).read_session() as session, session.begin():
        station = _station(request, session, key)
        found = stations.station_programme(session, station, programme)
        return [
            _episode(request, key, found, s) for s in stations.published_segments(session, found)
        ]


@router.get("/{key}/schedule.json", summary="Air times of all the station's programmes")
def station_schedule(request: Request, key: str, days: int = 7) -> Response:
    return _schedule(request, key, None, days)


@router.get("/{key}/{programme}/schedule.json", summary="Air times of one programme")
def programme_schedule(request: Request, key: str, programme: str, days: int = 7) -> Response:
    return _schedule(request, key, programme, days)


def _schedule(request: Request, key: str, programme: str | None, days: int) -> Response:
    days = max(1, min(days, 31))
    now = _now(request)
    with _db(request).read_session() as session, session.begin():
        station = _station(request, session, key)
        chosen = (
            [stations.station_programme(session, station, programme)]
            if programme
            else list(station.programmes)
        )
        base = _base(request, key)
        entries: list[dict[str, Any]] = []
        for air in stations.upcoming(session, chosen, now, days):
            local = local_time(air.air_at, air.timezone)
            entries.append(
                {
                    "programme": air.programme_slug,
                    "air_at": air.air_at.isoformat().replace("+00:00", "Z"),
                    "local_time": local.isoformat(),
                    "timezone": air.timezone,
                    "zone": zone_abbreviation(air.timezone),
                    "status": air.status,
                    "segment_id": air.segment_id,
                    "mp3": f"{base}/segments/{air.segment_id}.mp3" if air.segment_id else None,
                }
            )
        body = feeds.schedule_json(entries, station.timezone)
    return Response(body, media_type="application/json")


@router.get("/{key}/{programme}/latest.mp3", summary="The newest segment")
@router.head("/{key}/{programme}/latest.mp3", include_in_schema=False)
def latest(request: Request, key: str, programme: str) -> Response:
    with _db(request).read_session() as session, session.begin():
        station = _station(request, session, key)
        found = stations.station_programme(session, station, programme)
        segment = stations.latest_segment(session, found, _now(request))
        return _file(request, segment, "mp3", cache="no-cache")


@router.get(
    "/{key}/segments/{filename}",
    summary="A segment's MP3, Opus, cue sheet or checksum (stable URL, HTTP Range)",
)
@router.head("/{key}/segments/{filename}", include_in_schema=False)
def segment_file(request: Request, key: str, filename: str) -> Response:
    match = _FILE.match(filename)
    with _db(request).read_session() as session, session.begin():
        station = _station(request, session, key)
        if match is None:
            raise NotFound(f"no file {filename!r}")
        segment = stations.station_segment(session, station, int(match.group(1)))
        kind = match.group(2)
        if kind == "sha256":
            lines = [
                f"{info['sha256']}  {Path(segment.files[fmt]).name}"
                for fmt, info in sorted(segment.file_info.items())
                if fmt in segment.files and isinstance(info, dict)
            ]
            return Response("\n".join(lines) + "\n", media_type="text/plain")
        key_name = "cue" if kind == "cue.json" else kind
        return _file(request, segment, key_name)


def _file(request: Request, segment: Segment, fmt: str, cache: str = "") -> Response:
    relative = segment.files.get(fmt)
    info = segment.file_info.get(fmt) or {}
    if not relative:
        raise NotFound(f"segment {segment.id} has no {fmt}")
    path = _settings(request).data_dir / relative
    if not path.is_file():
        raise NotFound(f"segment {segment.id}: the {fmt} file is missing")
    digest = str(info.get("sha256", ""))
    headers = {
        # Stable for the bytes: a rebuilt segment gets a new ETag (and feed guid).
        "ETag": f'"{digest}"',
        "X-Checksum-SHA256": digest,
        "Cache-Control": cache or "public, max-age=3600",
    }
    if digest:
        headers["Digest"] = "sha-256=" + base64.b64encode(bytes.fromhex(digest)).decode()
    media = MEDIA.get("cue.json" if fmt == "cue" else fmt, "application/octet-stream")
    return FileResponse(
        path,
        media_type=media,
        headers=headers,
        filename=path.name,
        content_disposition_type="inline",
    )


@router.post(
    "/{key}/airplays",
    status_code=201,
    summary="Playout log: a segment went on air (idempotent per time)",
)
def aired(request: Request, key: str, report: AiredReport) -> JSONResponse:
    now = _now(request)
    with _db(request).transaction() as session:
        station = stations.authenticate(session, key)
        stations.mark_seen(session, station.id, now)
        aired_at = report.aired_at or now
        airplay, created = stations.record_airplay(
            session, station, report.segment_id, aired_at, now
        )
        body = {
            "id": airplay.id,
            "segment_id": airplay.segment_id,
            "aired_at": airplay.aired_at.isoformat(),
            "created": created,
        }
    return JSONResponse(body, status_code=201 if created else 200)


@router.api_route("/{rest:path}", methods=["GET", "HEAD", "POST"], include_in_schema=False)
def no_key(rest: str) -> Response:
    """Anything else under /radio: a missing or malformed key, answered like a wrong one."""
    raise StationAuthFailed("a valid station key is required")
