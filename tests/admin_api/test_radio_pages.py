"""Radio and station pages and their API, on SQLite and PostgreSQL: air times in words,
segments with play buttons and cue sheets, re-plan / re-assemble, the playout log, and
stations whose new key is shown once with its feed URLs and works at once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from admin_api.i18n import Translator
from admin_api.recurrence import describe
from broadcasts import library, stations
from core.models import AuditEvent, Job, Segment, Station
from core.states import JobState, SegmentStatus
from tests.admin_api.conftest import World, web_login
from tests.admin_api.radio_world import AIR_AT, seed_radio


@pytest.mark.parametrize(
    ("rule", "start", "id_text", "en_text"),
    [
        (
            "FREQ=WEEKLY;BYDAY=TH,MO",
            "2026-01-05T19:00:00",
            "setiap Senin dan Kamis 19:00 WITA",
            "every Monday and Thursday 19:00 WITA",
        ),
        (
            "RRULE:FREQ=WEEKLY;BYDAY=MO,WE,FR",
            "2026-01-05T07:30",
            "setiap Senin, Rabu dan Jumat 07:30 WITA",
            "every Monday, Wednesday and Friday 07:30 WITA",
        ),
        ("FREQ=WEEKLY", "2026-01-06T19:00", "setiap Selasa 19:00 WITA", "every Tuesday 19:00 WITA"),
        (
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=SA",
            "2026-01-03T10:00",
            "setiap 2 minggu pada hari Sabtu 10:00 WITA",
            "every 2 weeks on Saturday 10:00 WITA",
        ),
        ("FREQ=DAILY", "2026-01-03T06:00", "setiap hari 06:00 WITA", "every day 06:00 WITA"),
        (
            "FREQ=DAILY;INTERVAL=3",
            "2026-01-03T06:00",
            "setiap 3 hari 06:00 WITA",
            "every 3 days 06:00 WITA",
        ),
        (
            "FREQ=MONTHLY;BYMONTHDAY=1",
            "2026-01-01T20:00",
            "setiap tanggal 1 20:00 WITA",
            "on day 1 of every month 20:00 WITA",
        ),
    ],
)
def test_rules_in_words(rule: str, start: str, id_text: str, en_text: str) -> None:
    assert describe(Translator("id"), rule, start, "Asia/Makassar") == id_text
    assert describe(Translator("en"), rule, start, "Asia/Makassar") == en_text


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=WEEKLY;BYDAY=1MO",
        "FREQ=MONTHLY;BYDAY=MO;BYSETPOS=1",
        "FREQ=WEEKLY;COUNT=4",
        "FREQ=HOURLY",
        "FREQ=DAILY;INTERVAL=0",
        "nonsense",
    ],
)
def test_other_rules_are_not_put_in_words(rule: str) -> None:
    assert describe(Translator("en"), rule, "2026-01-05T19:00", "Asia/Makassar") is None


def test_programmes_page_shows_air_times_and_playable_segments(
    world: World, client: TestClient
) -> None:
    seed_radio(world)
    web_login(client, "editor")
    page = client.get("/programmes").text
    assert "setiap Senin dan Kamis 19:00 WITA" in page
    assert "23-11-2026 19:00 WITA" in page and "26-11-2026 19:00 WITA" in page
    segment = world.ids["segment"]
    assert f'<audio controls preload="none" src="/api/v1/radio/segments/{segment}/audio">' in page
    assert 'data-status="unplanned"' in page and "belum direncanakan" in page

    programmes = client.get("/api/v1/radio/programmes", headers=world.headers("editor")).json()
    assert programmes[0]["slots"][0]["description"] == "every Monday and Thursday 19:00 WITA"
    assert programmes[0]["stations"] == ["radio-lotim"]
    rows = client.get("/api/v1/radio/segments?days=7", headers=world.headers("editor")).json()
    assert [(r["id"], r["status"]) for r in rows] == [(segment, "ready"), (None, "unplanned")]
    audio = f"/api/v1/radio/segments/{segment}/audio"
    whole = client.get(audio, headers=world.headers("editor"))
    assert whole.status_code == 200 and whole.headers["content-type"] == "audio/mpeg"
    part = client.get(audio, headers={**world.headers("editor"), "Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == whole.content[100:200]
    assert client.get(audio, headers=world.headers("case_worker")).status_code == 403


def test_segment_page_cue_sheet_and_what_aired(world: World, client: TestClient) -> None:
    seed_radio(world)
    segment_id = world.ids["segment"]
    aired_at = AIR_AT + timedelta(minutes=1)
    world.clock.current = AIR_AT + timedelta(hours=1)
    with world.db.transaction() as s:
        station = s.scalars(select(Station)).one()
        stations.record_airplay(s, station, segment_id, aired_at, world.clock.now())
    web_login(client, "editor")
    page = client.get(f"/segments/{segment_id}").text
    assert "sudah mengudara" in page and "radio-lotim" in page
    assert f'href="/content/{world.ids["item"]}">Jangan bayar calo</a>' in page
    assert "<td>0:00.5</td><td>1.5 s</td>" in page  # the item starts after the jingle
    assert 'action="/segments/' not in page  # aired: nothing to re-plan
    log = client.get("/aired").text
    assert "23-11-2026 19:01 WITA" not in log  # the log shows the installation's zone (WIB)
    assert "23-11-2026 18:01 WIB" in log and f'href="/segments/{segment_id}"' in log
    api = client.get(f"/api/v1/radio/segments/{segment_id}", headers=world.headers("admin"))
    assert [c["kind"] for c in api.json()["cue_sheet"]] == ["jingle", "item"]
    assert api.json()["aired"][0]["station"] == "radio-lotim"
    assert api.json()["status"] == "aired"
    airplays = client.get("/api/v1/radio/airplays?days=7", headers=world.headers("editor")).json()
    assert [(a["station"], a["segment_id"]) for a in airplays] == [("radio-lotim", segment_id)]
    replan = client.post(
        f"/api/v1/radio/segments/{segment_id}/replan", headers=world.headers("editor")
    )
    assert replan.status_code == 409 and replan.json()["code"] == "segment_state"


def test_replan_and_reassemble(world: World, client: TestClient) -> None:
    seed_radio(world)
    segment_id = world.ids["segment"]
    now = world.clock.now()
    url = f"/api/v1/radio/segments/{segment_id}"
    empty = client.post(f"{url}/replan", headers=world.headers("editor"))
    assert empty.status_code == 409 and "no playable content" in empty.json()["message"]
    csrf = web_login(client, "editor")
    refused = client.post(f"/segments/{segment_id}/replan", data={"csrf_token": csrf})
    assert refused.status_code == 409 and "no playable content" in refused.text
    assert "Susunan acara" in refused.text  # the segment's own page, with the reason
    # A new approved item with audio: the planner takes it.
    with world.db.transaction() as s:
        fresh = library.create_draft(
            s,
            actor_id=world.ids["editor2"],
            now=now,
            slug="kbri",
            title="KBRI",
            topic="embassy",
            language="id",
            body_text="Hubungi KBRI.",
        )
        fresh.radio_audio_path = "content/x.wav"
        fresh.duration_s = 20.0
        library.submit(s, fresh.id, actor_id=world.ids["editor2"], now=now)
        library.approve(s, fresh.id, actor_id=world.ids["editor"], now=now)
        fresh_id = fresh.id
    changed = client.post(f"{url}/replan", headers=world.headers("editor"))
    assert changed.json() == {"segment_id": segment_id, "status": "assembling", "changed": True}
    with world.db.read_session() as s:
        segment = s.get(Segment, segment_id)
        assert segment is not None and segment.planned_content_ids == [fresh_id]
        jobs = [
            j.unique_key for j in s.scalars(select(Job).where(Job.kind == "broadcasts.assemble"))
        ]
        assert (
            len(jobs) == 1
            and jobs[0] is not None
            and jobs[0].startswith(f"broadcasts.assemble:{segment_id}:")
        )
    same = client.post(f"/segments/{segment_id}/replan", data={"csrf_token": csrf})
    assert "materi yang sama" in same.text
    not_failed = client.post(f"{url}/reassemble", headers=world.headers("editor"))
    assert not_failed.status_code == 409

    # The build failed for good: assembling again queues the dead job again.
    with world.db.transaction() as s:
        segment = s.get(Segment, segment_id)
        assert segment is not None
        segment.status, segment.error = SegmentStatus.failed, "ffmpeg: broken pipe"
        job = s.scalars(select(Job).where(Job.kind == "broadcasts.assemble")).one()
        job.state, job.attempts = JobState.dead, 3
    page = client.get(f"/segments/{segment_id}").text
    assert "ffmpeg: broken pipe" in page and f'action="/segments/{segment_id}/reassemble"' in page
    again = client.post(f"/segments/{segment_id}/reassemble", data={"csrf_token": csrf})
    assert "Segmen akan disusun ulang." in again.text
    with world.db.read_session() as s:
        job = s.scalars(select(Job).where(Job.kind == "broadcasts.assemble")).one()
        assert (job.state, job.attempts) == (JobState.queued, 0)
        segment = s.get(Segment, segment_id)
        assert segment is not None and (segment.status, segment.error) == (
            SegmentStatus.assembling,
            None,
        )
        actions = [
            e.action
            for e in s.scalars(select(AuditEvent).where(AuditEvent.object_type == "segment"))
        ]
    assert actions == ["segment.replan", "segment.replan", "segment.reassemble"]


def test_admins_manage_stations_and_keys_work_at_once(world: World, client: TestClient) -> None:
    seed_radio(world)
    admin = world.headers("admin")
    made = client.post(
        "/api/v1/stations",
        headers=admin,
        json={"slug": "radio-wonosobo", "name": "Radio Wonosobo", "timezone": "WIB",
              "programmes": ["kabar-migran"]},
    )  # fmt: skip
    assert made.status_code == 201, made.text
    key = made.json()["key"]
    rss = made.json()["urls"]["kabar-migran"]["rss"]
    assert rss == f"http://testserver/radio/{key}/kabar-migran.xml"
    assert client.get(rss.removeprefix("http://testserver")).status_code == 200
    assert (
        client.post("/api/v1/stations", headers=world.headers("editor"), json={}).status_code == 403
    )
    bad = client.post("/api/v1/stations", headers=admin, json={"slug": "Bad!", "name": "x"})
    assert bad.status_code == 422 and bad.json()["message"].startswith("slug:")

    renewed = client.post("/api/v1/stations/radio-wonosobo/key", headers=admin).json()
    assert client.get(f"/radio/{key}/programmes.json").status_code == 401
    new_key = renewed["key"]
    assert client.get(f"/radio/{new_key}/programmes.json").status_code == 200
    detached = client.delete(
        "/api/v1/stations/radio-wonosobo/programmes/kabar-migran", headers=admin
    )
    assert detached.json()["programmes"] == []
    assert client.get(f"/radio/{new_key}/kabar-migran.xml").status_code == 404
    attached = client.put("/api/v1/stations/radio-wonosobo/programmes/kabar-migran", headers=admin)
    assert attached.json()["programmes"] == ["kabar-migran"]
    assert (
        client.put("/api/v1/stations/radio-wonosobo/programmes/nope", headers=admin).status_code
        == 404
    )
    off = client.post("/api/v1/stations/radio-wonosobo/deactivate", headers=admin)
    assert off.json()["is_active"] is False
    assert client.get(f"/radio/{new_key}/programmes.json").status_code == 401
    listed = client.get("/api/v1/stations", headers=admin).json()
    assert [(s["slug"], s["is_active"]) for s in listed] == [
        ("radio-lotim", True),
        ("radio-wonosobo", False),
    ]
    with world.db.read_session() as s:
        events = list(s.scalars(select(AuditEvent).where(AuditEvent.object_type == "station")))
    assert [e.action.removeprefix("station.") for e in events] == [
        "create", "new_key", "detach", "attach", "deactivate",
    ]  # fmt: skip
    for event in events:
        assert key not in str(event.details) and new_key not in str(event.details)


def test_stations_page_shows_a_new_key_once(world: World, client: TestClient) -> None:
    seed_radio(world)
    csrf = web_login(client, "admin")
    page = client.get("/stations").text
    assert "Radio Lotim" in page and "belum pernah mengambil" in page
    wrong = client.post(
        "/stations", data={"slug": "Radio Baru", "name": "Radio Baru", "csrf_token": csrf}
    )
    assert wrong.status_code == 422 and 'value="Radio Baru"' in wrong.text and "slug:" in wrong.text
    made = client.post(
        "/stations",
        data={"slug": "radio-baru", "name": "Radio Baru", "timezone": "WIT",
              "programme": ["kabar-migran"], "csrf_token": csrf},
    )  # fmt: skip
    assert made.status_code == 200 and made.headers["cache-control"] == "no-store"
    assert "hanya ditampilkan sekali" in made.text and "/kabar-migran.xml" in made.text
    with world.db.read_session() as s:
        station = s.scalars(select(Station).where(Station.slug == "radio-baru")).one()
        assert station.timezone == "Asia/Jayapura"
        prefix = station.api_key_prefix
    assert made.text.count(prefix) >= 2  # the key in full, and in every URL
    later = client.get("/stations").text
    assert f"{prefix}…" in later and f"{prefix}…</code>" in later
    key_start = made.text.index(prefix)
    full_key = made.text[key_start : key_start + 47]
    assert full_key not in later  # shown once only
    off = client.post("/stations/radio-baru/deactivate", data={"csrf_token": csrf})
    assert "Stasiun dinonaktifkan" in off.text
    client.cookies.clear()
    web_login(client, "editor")
    assert client.get("/stations").status_code == 403
