"""End to end on the real Asterisk: the transfer to a counsellor (a real second leg), the
latest radio segment, and the FastAGI server dying in the middle of a call."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from core.db import Database
from core.models import Call, Case, Job, Programme, Recording, Segment
from core.security import PhoneVault
from core.settings import Settings
from core.states import CallOutcome, SegmentStatus
from ivr.fastagi import RecordEnd
from ivr.voicemail import VoicemailSweep
from tests.conftest import FixedClock
from tests.ivr.conftest import HotlineSite
from tests.ivr.harness import (
    Await,
    HangUp,
    Harness,
    Press,
    Say,
    Silence,
    Step,
    install_dialplan,
    loudness,
    serve,
    site_settings,
    speech,
    telephone_audio,
)

pytestmark = pytest.mark.slow

TRANSFER_MENU = """
version: 1
start: main
nodes:
  main:
    type: menu
    prompt: main-menu
    options:
      {"1": counsellor, "2": counsellor_busy, "3": latest, "4": counsellor_ringing,
       "9": quick_exit}
    fallback: goodbye
  counsellor:
    type: transfer
    dial: Local/100@desk
    office_hours: "08:00-16:00"
    after_hours: voicemail
  counsellor_busy:
    type: transfer
    dial: Local/100@desk-busy
    after_hours: voicemail
  counsellor_ringing:
    type: transfer
    dial: Local/100@desk-ringing
    after_hours: voicemail
  voicemail:
    type: record
    prompt: report-intro
    next: main
    declined: main
  latest: {type: latest_segment, next: main}
  quick_exit: {type: quick_exit, prompt: quick-exit}
  goodbye: {type: hangup, prompt: goodbye}
"""
# 10:00 and 20:00 in Jakarta (WIB, UTC+7).
OFFICE_HOURS = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
EVENING = datetime(2026, 11, 24, 13, 0, tzinfo=UTC)


@pytest.fixture
def site(
    hotline_site: HotlineSite, database_url: str, tmp_path: Path
) -> Iterator[tuple[Settings, Database]]:
    menu = tmp_path / "menu.yaml"
    menu.write_text(TRANSFER_MENU, encoding="utf-8")
    settings = site_settings(
        hotline_site, database_url, tmp_path, DESBUMI_HOTLINE__MENU_FILE=str(menu)
    )
    database = Database.from_settings(settings)
    install_dialplan(hotline_site, settings)
    yield settings, database
    database.dispose()


@pytest.mark.parametrize(
    ("hangs_up", "talk", "counsellor_ended"),
    [
        # The counsellor's leg answers and records; the caller talks to her until the
        # counsellor hangs up (Dial returns to the menu engine, which reads DIALSTATUS).
        ("counsellor", [Silence(1), "speech", Await("hangup")], RecordEnd.timeout),
        # The caller talks and hangs up while still connected: the hangup ends the Dial
        # and the AGI session's live part, yet she did talk with the counsellor.
        ("caller", [Await("counsellor", "answered"), "speech", HangUp()], RecordEnd.hangup),
    ],
)
def test_transfer_in_office_hours_reaches_the_counsellor(
    hotline_site: HotlineSite,
    site: tuple[Settings, Database],
    hangs_up: str,
    talk: list[Step | str],
    counsellor_ended: RecordEnd,
) -> None:
    settings, db = site
    spoken, _ = speech(hotline_site, "to-counsellor", "Halo, saya butuh bantuan sekarang.")
    harness = Harness(hotline_site, settings, db, FixedClock(OFFICE_HOURS))
    traces = []
    steps = [Say(spoken) if step == "speech" else step for step in talk]

    async def body() -> None:
        traces.append(
            await harness.call([Await("play", "main-menu"), Press("1"), Await("dial"), *steps])
        )

    serve(harness, body())
    assert harness.caller_errors == []
    events = traces[0].events
    assert ("dial", "Local/100@desk") in events
    assert traces[0].played() == ["main-menu", "transfer-connecting"]
    # The second leg was really bridged: the counsellor heard the caller speak, until the
    # one who hangs up in this case did.
    assert len(harness.counsellor_heard) == 1
    assert loudness(harness.counsellor_heard[0]) > 100
    assert harness.counsellor_ended == [counsellor_ended]
    if hangs_up == "caller":
        assert ("hangup", "caller") in events
    with db.read_session() as s:
        assert s.scalars(select(Call)).one().outcome is CallOutcome.transferred


def test_caller_hanging_up_while_the_counsellor_rings_is_no_transfer(
    hotline_site: HotlineSite, site: tuple[Settings, Database]
) -> None:
    settings, db = site
    harness = Harness(hotline_site, settings, db, FixedClock(OFFICE_HOURS))

    async def body() -> None:
        await harness.call(
            [Await("play", "main-menu"), Press("4"), Await("dial"), Silence(1), HangUp()]
        )

    serve(harness, body())
    assert harness.caller_errors == []
    assert harness.counsellor_heard == []
    with db.read_session() as s:
        assert s.scalars(select(Call)).one().outcome is CallOutcome.hung_up


@pytest.mark.parametrize(
    ("when", "key", "heard"),
    [
        # Outside office hours nobody is dialled: straight to the voicemail node.
        (EVENING, "1", ["main-menu", "report-intro", "consent"]),
        # In office hours, but the counsellor's line is busy: say so, then voicemail.
        (
            OFFICE_HOURS,
            "2",
            ["main-menu", "transfer-connecting", "transfer-unavailable", "report-intro", "consent"],
        ),
    ],
)
def test_transfer_without_a_counsellor_goes_to_voicemail(
    hotline_site: HotlineSite,
    site: tuple[Settings, Database],
    when: datetime,
    key: str,
    heard: list[str],
) -> None:
    settings, db = site
    harness = Harness(hotline_site, settings, db, FixedClock(when))
    traces = []

    async def body() -> None:
        traces.append(
            await harness.call(
                [Await("play", "main-menu"), Press(key), Await("play", "consent"), HangUp()]
            )
        )

    serve(harness, body())
    assert harness.caller_errors == []
    assert traces[0].played() == heard
    assert harness.counsellor_heard == []
    with db.read_session() as s:
        assert s.scalars(select(Call)).one().outcome is not CallOutcome.transferred


def test_latest_radio_segment_is_played(
    hotline_site: HotlineSite, site: tuple[Settings, Database]
) -> None:
    settings, db = site
    now = datetime.now(UTC)
    stem = f"segments/test/{now:%H%M%S%f}-telephone"
    with db.transaction() as s:
        programme = Programme(slug="kabar-migran", name="Kabar Migran", created_at=now)
        s.add(programme)
        s.flush()
        s.add(
            Segment(
                programme_id=programme.id,
                air_at=now - timedelta(hours=1),
                status=SegmentStatus.ready,
                files={"telephone": stem},
                duration_s=2.0,
                created_at=now,
                updated_at=now,
            )
        )
    harness = Harness(hotline_site, settings, db)
    steps = [
        Await("play", "main-menu"),
        Press("3"),
        Await("play", "segment"),
        Await("play", "main-menu"),
        Press("9"),
        Await("hangup"),
    ]
    traces = []

    async def body() -> None:
        # First the radio assembly has not written the files yet, then it has.
        traces.append(await harness.call(steps))
        telephone_audio(settings.data_dir / stem, 2.0)
        traces.append(await harness.call(steps))

    # The first call's segment files were missing (counted once; she went on to the menu),
    # the second call played them.
    serve(harness, body(), missing_prompts=1)
    assert harness.caller_errors == []
    for trace in traces:
        assert trace.played() == [
            "main-menu",
            "latest-intro",
            "segment",
            "main-menu",
            "quick-exit",
        ]


def test_server_dying_mid_call_falls_back_to_voicemail_ingested_later(
    hotline_site: HotlineSite, site: tuple[Settings, Database]
) -> None:
    settings, db = site
    spoken, seconds = speech(hotline_site, "after-crash", "Tolong, paspor saya ditahan agen.")
    harness = Harness(hotline_site, settings, db)
    harness.crash_on = ("play", "main-menu")
    traces = []

    async def body() -> None:
        traces.append(
            await harness.call(
                [
                    Await("crash"),
                    # The dialplan's apology and beep, then she leaves her message and
                    # hangs up (the voicemail keeps what was recorded).
                    Silence(3),
                    Say(spoken),
                    HangUp(),
                ]
            )
        )

    serve(harness, body())
    assert harness.caller_errors == []
    with db.read_session() as s:
        call = s.scalars(select(Call)).one()
    audio = settings.data_dir / "voicemail" / f"{call.asterisk_uniqueid}.wav"
    assert audio.is_file(), "the dialplan fallback took no voicemail"
    # The server is back: the scheduler's sweep stores it, once. (The folder is shared by
    # the session's tests: other voicemails may be there too.)
    sweep = VoicemailSweep(settings, PhoneVault(settings.require_secret()))
    with db.transaction() as s:
        assert sweep.run(s, datetime.now(UTC)) >= 1
    with db.transaction() as s:
        assert sweep.run(s, datetime.now(UTC)) == 0
    assert not audio.with_suffix(".caller").exists()
    with db.read_session() as s:
        call = s.get(Call, call.id)
        assert call is not None and call.outcome is CallOutcome.fallback_voicemail
        case = s.scalars(select(Case).where(Case.call_id == call.id)).one()
        assert case.incomplete
        recording = s.scalars(select(Recording).where(Recording.case_id == case.id)).one()
        assert recording.path == f"voicemail/{audio.name}"
        assert recording.duration_s >= 0.8 * seconds
        job = s.scalars(select(Job).where(Job.unique_key == f"transcribe:{recording.id}")).one()
        assert job.payload["recording_id"] == recording.id
