"""Station HTTP: feeds that feedparser reads, playlists, schedule, stable downloads with
Range and sha256, latest.mp3, the playout log, and keys that reveal nothing."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import pytest
from fastapi.testclient import TestClient

from admin_api.app import create_app
from broadcasts import schedule, stations
from core.db import Database
from core.models import Segment, Station
from core.settings import Settings
from core.states import SegmentStatus
from tests.conftest import FixedClock

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


@dataclass
class Radio:
    client: TestClient
    key: str
    other_key: str
    segments: list[int]
    mp3: Path
    settings: Settings
    db: Database


def _segment(db: Database, settings: Settings, programme_id: int, air_at: datetime, n: int) -> int:
    folder = settings.data_dir / "segments" / f"p{programme_id}" / str(n)
    folder.mkdir(parents=True)
    mp3 = folder / f"seg-{n}.mp3"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency={300 + n * 50}:duration=2",
            "-c:a",
            "libmp3lame",
            "-b:a",
            "128k",
            str(mp3),
        ],
        check=True,
    )
    cue = folder / f"seg-{n}.cue.json"
    cue.write_text('{"cues": []}')
    digest = hashlib.sha256(mp3.read_bytes()).hexdigest()
    with db.transaction() as s:
        segment = Segment(
            programme_id=programme_id,
            air_at=air_at,
            status=SegmentStatus.ready,
            files={
                "mp3": str(mp3.relative_to(settings.data_dir)),
                "cue": str(cue.relative_to(settings.data_dir)),
                "telephone": str((folder / "phone").relative_to(settings.data_dir)),
            },
            file_info={
                "mp3": {"size": mp3.stat().st_size, "sha256": digest},
                "cue": {
                    "size": cue.stat().st_size,
                    "sha256": hashlib.sha256(cue.read_bytes()).hexdigest(),
                },
            },
            cue_sheet=[{"kind": "item", "title": f"Item {n}", "content_id": n}],
            duration_s=2.0,
            sha256=digest,
            created_at=NOW,
            updated_at=NOW,
        )
        s.add(segment)
        s.flush()
        return segment.id


@pytest.fixture
def radio(settings: Settings, db: Database) -> Iterator[Radio]:
    with db.transaction() as s:
        mine = schedule.create_programme(s, slug="kabar-migran", name="Kabar Migran", now=NOW)
        theirs = schedule.create_programme(s, slug="suara-desa", name="Suara Desa", now=NOW)
        schedule.add_slot(
            s,
            mine.slug,
            rrule="FREQ=WEEKLY;BYDAY=MO,TH",
            dtstart_local="2026-01-05T19:00:00",
            timezone="WITA",
        )
        _station, key = stations.create_station(
            s, slug="lotim", name="Radio Lotim", timezone="WITA", now=NOW
        )
        _other, other_key = stations.create_station(
            s, slug="jember", name="Radio Jember", timezone="WIB", now=NOW
        )
        schedule.attach_station(s, mine.slug, "lotim")
        schedule.attach_station(s, theirs.slug, "jember")
        ids = (mine.id, theirs.id)
    segments = [
        _segment(db, settings, ids[0], datetime(2026, 11, 30, 11, 0, tzinfo=UTC), 1),
        _segment(db, settings, ids[0], datetime(2026, 12, 3, 11, 0, tzinfo=UTC), 2),
        _segment(db, settings, ids[1], datetime(2026, 12, 2, 11, 0, tzinfo=UTC), 3),
    ]
    app = create_app(settings, db, "test")
    app.state.clock = FixedClock(NOW)
    with TestClient(app, base_url="http://radio.test") as client:
        mp3 = settings.data_dir / "segments" / f"p{ids[0]}" / "2" / "seg-2.mp3"
        yield Radio(client, key, other_key, segments, mp3, settings, db)


def test_rss_feed_is_valid_rss2_that_feedparser_reads(radio: Radio) -> None:
    response = radio.client.get(f"/radio/{radio.key}/kabar-migran.xml")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/rss+xml")
    feed = feedparser.parse(response.content)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "rss20"
    assert feed.feed.title == "Kabar Migran"
    assert [e.title for e in feed.entries] == [
        "Kabar Migran 03-12-2026 19:00 WITA",
        "Kabar Migran 30-11-2026 19:00 WITA",
    ]
    newest = feed.entries[0]
    enclosure = newest.enclosures[0]
    assert enclosure.href == f"http://radio.test/radio/{radio.key}/segments/{radio.segments[1]}.mp3"
    assert enclosure.type == "audio/mpeg"
    assert int(enclosure.length) == radio.mp3.stat().st_size
    assert newest.id.startswith(f"desbumi-segment-{radio.segments[1]}-")
    assert newest.published_parsed[:5] == (2026, 12, 3, 11, 0)
    assert newest.itunes_duration == "00:00:02"
    # The enclosure URL downloads the file itself.
    download = radio.client.get(enclosure.href)
    assert download.status_code == 200 and download.content == radio.mp3.read_bytes()


def test_playlists_and_schedule(radio: Radio) -> None:
    base = f"http://radio.test/radio/{radio.key}"
    m3u = radio.client.get(f"/radio/{radio.key}/kabar-migran.m3u").text.splitlines()
    assert m3u[0] == "#EXTM3U"
    assert m3u[2] == f"{base}/segments/{radio.segments[1]}.mp3"
    pls = radio.client.get(f"/radio/{radio.key}/kabar-migran.pls").text
    assert f"File1={base}/segments/{radio.segments[1]}.mp3" in pls
    assert "NumberOfEntries=2" in pls and "Version=2" in pls
    schedule_body = radio.client.get(f"/radio/{radio.key}/schedule.json?days=7").json()
    assert schedule_body["timezone"] == "Asia/Makassar"
    first = schedule_body["air_times"][0]
    # Thursday 3 December 19:00 WITA is 11:00 UTC, before NOW (12:00): the next is Monday.
    assert first["air_at"] == "2026-12-07T11:00:00Z"
    assert first["local_time"] == "2026-12-07T19:00:00+08:00"
    assert (first["zone"], first["status"], first["mp3"]) == ("WITA", "not planned yet", None)
    listing = radio.client.get(f"/radio/{radio.key}/programmes.json").json()
    assert [p["slug"] for p in listing["programmes"]] == ["kabar-migran"]
    assert listing["programmes"][0]["rss"] == f"{base}/kabar-migran.xml"


def test_downloads_honour_range_and_carry_sha256(radio: Radio) -> None:
    data = radio.mp3.read_bytes()
    url = f"/radio/{radio.key}/segments/{radio.segments[1]}.mp3"
    full = radio.client.get(url)
    digest = hashlib.sha256(data).hexdigest()
    assert full.headers["x-checksum-sha256"] == digest
    assert full.headers["etag"] == f'"{digest}"'
    assert full.headers["accept-ranges"] == "bytes"
    part = radio.client.get(url, headers={"Range": "bytes=100-1099"})
    assert part.status_code == 206
    assert part.content == data[100:1100]
    assert part.headers["content-range"] == f"bytes 100-1099/{len(data)}"
    tail = radio.client.get(url, headers={"Range": "bytes=-500"})
    assert tail.status_code == 206 and tail.content == data[-500:]
    beyond = radio.client.get(url, headers={"Range": f"bytes={len(data) + 10}-"})
    assert beyond.status_code == 416
    head = radio.client.head(url)
    assert head.status_code == 200 and int(head.headers["content-length"]) == len(data)
    sums = radio.client.get(f"/radio/{radio.key}/segments/{radio.segments[1]}.sha256").text
    assert f"{digest}  seg-2.mp3" in sums
    cue = radio.client.get(f"/radio/{radio.key}/segments/{radio.segments[1]}.cue.json")
    assert cue.json() == {"cues": []}
    latest = radio.client.get(f"/radio/{radio.key}/kabar-migran/latest.mp3")
    assert latest.status_code == 200 and latest.content == data
    # Before the first air time, latest.mp3 is the next segment.
    radio.client.app.state.clock.moment = datetime(2026, 11, 1, tzinfo=UTC)  # type: ignore[attr-defined]
    early = radio.client.get(f"/radio/{radio.key}/kabar-migran/latest.mp3")
    first = radio.mp3.parent.parent / "1" / "seg-1.mp3"
    assert early.status_code == 200 and early.content == first.read_bytes()


def test_wrong_or_missing_key_gets_401_that_reveals_nothing(radio: Radio) -> None:
    segment_url = f"/segments/{radio.segments[1]}.mp3"
    attempts = [
        "/radio/dsb_wrong-key-000000000000000000000000000000000/kabar-migran.xml",
        f"/radio/{radio.key[:-1]}{'y' if radio.key[-1] == 'x' else 'x'}/kabar-migran.xml",
        "/radio/kabar-migran.xml",
        "/radio/",
        f"/radio/not-a-key{segment_url}",
        f"/radio/{radio.key[:12]}{segment_url}",
    ]
    bodies = set()
    for path in attempts:
        response = radio.client.get(path)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"].startswith("Bearer")
        bodies.add(response.text)
    assert bodies == {'{"code":"unauthorised","message":"a valid station key is required"}'}
    post = radio.client.post("/radio/dsb_nope/airplays", json={"segment_id": radio.segments[1]})
    assert post.status_code == 401
    # A valid key sees only its station's programmes: others look like nothing at all.
    theirs = radio.client.get(f"/radio/{radio.key}/suara-desa.xml")
    nothing = radio.client.get(f"/radio/{radio.key}/no-such-programme.xml")
    assert theirs.status_code == nothing.status_code == 404
    assert theirs.json()["code"] == nothing.json()["code"] == "not_found"
    foreign = radio.client.get(f"/radio/{radio.key}/segments/{radio.segments[2]}.mp3")
    assert foreign.status_code == 404
    assert radio.client.get(f"/radio/{radio.other_key}/suara-desa.xml").status_code == 200
    # A new key replaces the old one at once; a disabled station is refused.
    with radio.db.transaction() as s:
        fresh = stations.new_key(s, "lotim")
    assert radio.client.get(f"/radio/{radio.key}/kabar-migran.xml").status_code == 401
    assert radio.client.get(f"/radio/{fresh}/kabar-migran.xml").status_code == 200
    with radio.db.transaction() as s:
        station = stations.get_station(s, "lotim")
        station.is_active = False
    assert radio.client.get(f"/radio/{fresh}/kabar-migran.xml").status_code == 401


def test_stations_report_what_aired_and_editors_see_it(radio: Radio) -> None:
    url = f"/radio/{radio.key}/airplays"
    aired_at = "2026-12-03T19:01:00+08:00"
    first = radio.client.post(url, json={"segment_id": radio.segments[1], "aired_at": aired_at})
    assert first.status_code == 201 and first.json()["created"] is True
    again = radio.client.post(url, json={"segment_id": radio.segments[1], "aired_at": aired_at})
    assert again.status_code == 200 and again.json()["created"] is False
    future = radio.client.post(
        url, json={"segment_id": radio.segments[1], "aired_at": "2026-12-09T19:00:00+08:00"}
    )
    assert future.status_code == 422
    foreign = radio.client.post(url, json={"segment_id": radio.segments[2]})
    assert foreign.status_code == 404
    with radio.db.read_session() as s:
        log = stations.airplay_log(s, NOW - timedelta(days=1))
        segment = s.get(Segment, radio.segments[1])
        station = s.query(Station).filter_by(slug="lotim").one()
    assert [(r.station, r.programme, r.segment_id) for r in log] == [
        ("lotim", "kabar-migran", radio.segments[1])
    ]
    assert log[0].aired_at == datetime(2026, 12, 3, 11, 1, tzinfo=UTC)
    assert segment is not None and segment.status is SegmentStatus.aired
    assert station.last_seen_at == NOW
    # An aired segment stays in the feed.
    feed = feedparser.parse(radio.client.get(f"/radio/{radio.key}/kabar-migran.xml").content)
    assert len(feed.entries) == 2
