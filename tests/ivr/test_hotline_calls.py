"""End to end: calls through the real Asterisk into the menu, driven from the caller's leg."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from core.db import Database
from core.models import Call, CallbackRequest, Caller, Case, ContentItem, Job, Recording
from core.settings import Settings
from core.states import (
    CallbackState,
    CallDirection,
    CallOutcome,
    ContentStatus,
    JobState,
)
from tests.ivr.conftest import HotlineSite, dialing_callback
from tests.ivr.harness import (
    Await,
    HangUp,
    Harness,
    Press,
    Say,
    serve,
    speech,
    up_to_the_beep,
)

pytestmark = pytest.mark.slow
NUMBER_DIGITS = "6281234567890"


def _approved(db: Database, topic: str, slug: str, text: str, version: int = 1) -> None:
    now = datetime.now(UTC) - timedelta(minutes=1)
    with db.transaction() as s:
        s.add(
            ContentItem(
                slug=slug,
                version=version,
                topic=topic,
                language="id",
                title=slug,
                body_text=text,
                status=ContentStatus.approved,
                approved_at=now,
                created_at=now,
                updated_at=now,
            )
        )


def test_information_by_topic_then_quick_exit(
    hotline_site: HotlineSite, site_db: tuple[Settings, Database]
) -> None:
    settings, db = site_db
    _approved(db, "documents", "paspor", "Paspor adalah milik Anda.", version=1)
    _approved(db, "documents", "paspor", "Paspor selalu milik Anda sendiri.", version=2)
    with db.transaction() as s:
        s.add(
            ContentItem(
                slug="draft-item",
                topic="documents",
                language="id",
                title="draft",
                body_text="Belum disetujui.",
                status=ContentStatus.draft,
                created_at=datetime.now(UTC),
                updated_at=datetime.now(UTC),
            )
        )
    harness = Harness(hotline_site, settings, db)
    traces = []

    async def body() -> None:
        traces.append(
            await harness.call(
                [
                    Await("play", "main-menu"),
                    Press("1"),
                    Await("play", "info-topics"),
                    Press("1"),
                    Await("play", "content:"),
                    Press("#"),
                    Await("play", "info-topics"),
                    Press("*"),
                    Await("play", "main-menu"),
                    Press("9"),
                    Await("hangup"),
                ]
            )
        )

    serve(harness, body())
    assert harness.caller_errors == []
    played = traces[0].played()
    # Only the newest approved version; the draft never plays.
    assert played == [
        "main-menu",
        "info-topics",
        "content:paspor:v2",
        "info-topics",
        "main-menu",
        "quick-exit",
    ]
    with db.read_session() as s:
        call = s.scalars(select(Call)).one()
        assert call.outcome is CallOutcome.quick_exit
        assert call.ended_at is not None
        assert [step[0] for step in call.menu_path][:3] == ["language", "main", "info"]
        caller = s.scalars(select(Caller)).one()
        assert NUMBER_DIGITS.encode() not in caller.phone_encrypted


def test_report_with_real_speech_is_stored_with_its_job(
    hotline_site: HotlineSite, site_db: tuple[Settings, Database]
) -> None:
    settings, db = site_db
    spoken, seconds = speech(
        hotline_site,
        "report",
        "Saya bekerja di Malaysia. Paspor saya ditahan majikan dan gaji saya belum dibayar "
        "selama tiga bulan. Tolong bantu saya pulang.",
    )
    harness = Harness(hotline_site, settings, db)
    traces = []

    async def body() -> None:
        traces.append(
            await harness.call(
                [
                    *up_to_the_beep(problem="2", country="1", village="1234#"),
                    Say(spoken),
                    Press("#"),
                    Await("play", "record-confirm"),
                    Press("3"),
                    Await("play", "digit-"),
                    # Heard once; # skips the repetition (test_engine_faults checks it).
                    Await("play", "report-reference-again"),
                    Press("#"),
                    Await("play", "report-thanks"),
                    HangUp(),
                ]
            )
        )

    serve(harness, body())
    assert harness.caller_errors == []
    trace = traces[0]
    reference = next(detail for event, detail in trace.events if event == "report")
    # The reference is read digit by digit.
    digits = [p.removeprefix("digit-") for p in trace.played() if p.startswith("digit-")]
    assert "".join(digits) == reference
    with db.read_session() as s:
        case = s.scalars(select(Case)).one()
        assert case.reference == reference
        assert case.keypad_hints == {"problem": "passport_held", "country": "MY", "village": "1234"}
        assert case.destination_country == "MY"
        assert case.incomplete is False
        recording = s.scalars(select(Recording)).one()
        assert recording.case_id == case.id and not recording.partial
        assert abs(recording.duration_s - seconds) <= 0.1 * seconds, (recording.duration_s, seconds)
        assert (settings.data_dir / recording.path).is_file()
        job = s.scalars(select(Job)).one()
        assert job.kind == "transcribe" and job.state is JobState.queued
        assert job.payload == {"recording_id": recording.id, "language": "id"}
        call = s.scalars(select(Call)).one()
        assert call.outcome is CallOutcome.reported
        assert case.call_id == call.id


def test_hangup_while_recording_keeps_the_partial_recording(
    hotline_site: HotlineSite, site_db: tuple[Settings, Database]
) -> None:
    settings, db = site_db
    spoken, seconds = speech(hotline_site, "cut", "Saya dipukul oleh majikan saya setiap hari.")
    harness = Harness(hotline_site, settings, db)

    async def body() -> None:
        await harness.call(
            [
                *up_to_the_beep(problem="3", country="2", village="#"),
                Say(spoken),
                HangUp(),
            ]
        )

    serve(harness, body())
    assert harness.caller_errors == []
    with db.read_session() as s:
        case = s.scalars(select(Case)).one()
        assert case.incomplete is True
        assert case.keypad_hints == {"problem": "violence", "country": "SA"}
        recording = s.scalars(select(Recording)).one()
        assert recording.partial is True
        assert recording.duration_s > 0.5 * seconds
        assert s.scalars(select(Job)).one().payload["recording_id"] == recording.id
        assert s.scalars(select(Call)).one().outcome is CallOutcome.reported


def test_invalid_key_then_silence_ends_with_goodbye(
    hotline_site: HotlineSite, site_db: tuple[Settings, Database]
) -> None:
    settings, db = site_db
    harness = Harness(hotline_site, settings, db)
    traces = []

    async def body() -> None:
        traces.append(
            await harness.call(
                [Await("play", "main-menu"), Press("7"), Await("hangup", timeout_s=60)]
            )
        )

    serve(harness, body())
    assert harness.caller_errors == []
    events = traces[0].events
    assert ("invalid", "7") in events
    assert events.count(("timeout", "")) == 2
    assert traces[0].played()[-1] == "goodbye"
    stats = harness.hotline.engine.stats
    assert (stats.invalid_keys, stats.timeouts) == (1, 2)
    with db.read_session() as s:
        assert s.scalars(select(Call)).one().outcome is CallOutcome.hung_up


def test_missed_call_is_rejected_unanswered_and_called_back_once(
    hotline_site: HotlineSite, site_db: tuple[Settings, Database], tmp_path: Path
) -> None:
    from core.security import PhoneVault
    from ivr.ami import AmiConnection
    from ivr.callbacks import CallbackDialer
    from tests.ivr.conftest import AMI_SECRET, AMI_USER

    settings, db = site_db
    harness = Harness(hotline_site, settings, db)
    missed = {
        "Action": "Originate",
        "Channel": "Local/s@desbumi-missed",
        "Application": "Wait",
        "Data": "1",
        "CallerID": f"+{NUMBER_DIGITS}",
        "Async": "true",
    }
    replies: list[str] = []

    async def body() -> None:
        for _ in range(2):
            replies.append(
                await asyncio.to_thread(
                    hotline_site.asterisk.ami,
                    {"Action": "Events", "EventMask": "call,user"},
                    missed,
                    settle_s=1.5,
                )
            )
        # The dialer calls the number back into the menu; the callee presses 9.
        harness.scripts.append([Await("play", "main-menu"), Press("9"), Await("hangup")])
        ami = AmiConnection("127.0.0.1", hotline_site.asterisk.ami_port, AMI_USER, AMI_SECRET)
        ami.start()
        try:
            assert ami.wait_connected(10)
            dial_settings = settings.callback.model_copy(
                update={"dial": "Local/{number}@callee", "quiet_hours": "", "delay_s": 0}
            )
            dialer = CallbackDialer(
                dial_settings, settings.timezone, PhoneVault(settings.require_secret()), ami
            )
            with db.transaction() as s:
                for request in s.scalars(select(CallbackRequest)):
                    request.due_at = datetime.now(UTC)
            with db.transaction() as s:
                assert dialer.run(s, datetime.now(UTC)) == 1
            for _ in range(300):
                if harness.server.completed_calls >= 4:
                    break
                await asyncio.sleep(0.1)
        finally:
            ami.close()

    serve(harness, body())
    assert harness.caller_errors == []
    for reply in replies:
        assert "DesbumiMissed" in reply, reply[-1500:]
    assert "Outcome: queued" in replies[0]
    assert "Outcome: merged" in replies[1]
    # Never answered, so the caller's credit is not touched: the line rings, then is
    # rejected (cause 21) and the originating side sees a failed call.
    for reply in replies:
        blocks = reply.split("\r\n\r\n")
        missed_leg = [b for b in blocks if "Channel: Local/s@desbumi-missed-" in b]
        assert missed_leg and not any("ChannelState: 6" in b for b in missed_leg)
        assert any("Event: UserEvent" in b and "ChannelStateDesc: Ring" in b for b in missed_leg)
        assert any("Event: HangupRequest" in b and "Cause: 21" in b for b in missed_leg)
    with db.read_session() as s:
        request = s.scalars(select(CallbackRequest)).one()
        assert request.state is CallbackState.answered
        assert request.attempts == 1
        callback_call = s.get(Call, request.answered_call_id)
        assert callback_call is not None
        assert callback_call.direction is CallDirection.callback
        assert callback_call.caller_id == request.caller_id
        assert callback_call.outcome is CallOutcome.quick_exit


def test_fallback_voicemail_when_the_server_is_down_is_ingested_later(
    hotline_site: HotlineSite, site_db: tuple[Settings, Database]
) -> None:
    from core.clock import SystemClock
    from core.security import PhoneVault
    from ivr.voicemail import VoicemailSweep

    settings, db = site_db
    spoken, seconds = speech(hotline_site, "voicemail", "Tolong, saya dikurung di rumah majikan.")
    # The caller's leg speaks after the apology; nothing listens on the AGI port.
    events = hotline_site.asterisk.ami(
        {"Action": "Events", "EventMask": "call,user"},
        {
            "Action": "Originate",
            "Channel": "Local/voicemail@speaker",
            "Context": "desbumi-ivr",
            "Exten": "s",
            "Priority": "1",
            "CallerID": f"+{NUMBER_DIGITS}",
            "Async": "true",
        },
        settle_s=seconds + 30,
        # Her call has ended (she hung up after her message): the voicemail is complete.
        until=r"Event: Hangup\r\n(?:[^\r\n]+\r\n)*?Channel: Local/voicemail@speaker-\w+;1",
    )
    assert "UserEvent: DesbumiFallback" in events, events[-2000:]
    folder = settings.data_dir / "voicemail"
    wavs = sorted(folder.glob("*.wav"), key=lambda p: p.stat().st_mtime)
    assert wavs, "the dialplan recorded no voicemail"
    audio = wavs[-1]
    assert audio.with_suffix(".caller").read_text().strip() == f"+{NUMBER_DIGITS}"
    sweep = VoicemailSweep(settings, PhoneVault(settings.require_secret()))
    clock = SystemClock()
    with db.transaction() as s:
        assert sweep.run(s, clock.now()) >= 1
    with db.transaction() as s:
        sweep.run(s, clock.now())
    assert not audio.with_suffix(".caller").exists(), "the plain-text number must go"
    with db.read_session() as s:
        call = s.scalars(select(Call).where(Call.asterisk_uniqueid == audio.stem)).one()
        assert call.outcome is CallOutcome.fallback_voicemail
        case = s.scalars(select(Case).where(Case.call_id == call.id)).one()
        recording = s.scalars(select(Recording).where(Recording.case_id == case.id)).one()
        assert recording.duration_s >= 0.8 * seconds
        job = s.scalars(select(Job).where(Job.unique_key == f"transcribe:{recording.id}")).one()
        assert job.payload == {"recording_id": recording.id, "language": recording.language}


def _dialplan_uniqueid(events: str, user_event: str) -> str:
    """The Asterisk unique id of the channel that sent ``user_event``."""
    for block in events.split("\r\n\r\n"):
        if "Event: UserEvent" in block and f"UserEvent: {user_event}" in block:
            fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
            return fields["Uniqueid"]
    raise AssertionError(f"no {user_event} event: {events[-1500:]}")


def test_missed_call_while_the_server_is_down_is_rejected_unanswered_and_queued_later(
    hotline_site: HotlineSite, site_db: tuple[Settings, Database]
) -> None:
    from core.security import PhoneVault
    from ivr.voicemail import VoicemailSweep

    settings, db = site_db
    folder = settings.data_dir / "voicemail"
    # Nothing listens on the AGI port: two missed calls from her, a minute apart at most.
    replies = [
        hotline_site.asterisk.ami(
            {"Action": "Events", "EventMask": "call,user"},
            {
                "Action": "Originate",
                "Channel": "Local/s@desbumi-missed",
                "Application": "Wait",
                "Data": "1",
                "CallerID": f"+{NUMBER_DIGITS}",
                "Async": "true",
            },
            settle_s=10,
            until=r"Event: HangupRequest\r\n(?:[^\r\n]+\r\n)*?Cause: 21",
        )
        for _ in range(2)
    ]
    uniqueids = []
    for reply in replies:
        assert "Status: FAILURE" in reply, reply[-1500:]
        # Still never answered (free for her) and rejected with cause 21.
        blocks = reply.split("\r\n\r\n")
        missed_leg = [b for b in blocks if "Channel: Local/s@desbumi-missed-" in b]
        assert missed_leg and not any("ChannelState: 6" in b for b in missed_leg)
        assert any("Event: HangupRequest" in b and "Cause: 21" in b for b in missed_leg)
        uniqueid = _dialplan_uniqueid(reply, "DesbumiMissed")
        assert (folder / f"{uniqueid}.missed").read_text().strip() == f"+{NUMBER_DIGITS}"
        uniqueids.append(uniqueid)

    # The server is back: the scheduler's sweep queues ONE callback for both calls.
    sweep = VoicemailSweep(settings, PhoneVault(settings.require_secret()))
    with db.transaction() as s:
        sweep.run(s, datetime.now(UTC))
    ours = [p for p in folder.iterdir() if p.name.split(".missed")[0] in uniqueids]
    assert ours and all(NUMBER_DIGITS.encode() not in p.read_bytes() for p in ours)
    assert not any(p.suffix == ".missed" for p in ours), "the plain-text number must go"
    with db.read_session() as s:
        request = s.scalars(select(CallbackRequest)).one()
        assert request.state is CallbackState.pending
        caller = s.get(Caller, request.caller_id)
        assert caller is not None
        vault = PhoneVault(settings.require_secret())
        assert vault.decrypt(caller.phone_encrypted) == f"+{NUMBER_DIGITS}"
    with db.transaction() as s:
        sweep.run(s, datetime.now(UTC))
    assert [p for p in folder.iterdir() if p.name.split(".missed")[0] in uniqueids] == []
    with db.read_session() as s:
        assert len(s.scalars(select(CallbackRequest)).all()) == 1


def test_fallback_voicemail_on_a_callback_while_the_server_is_down_goes_to_the_callee(
    hotline_site: HotlineSite, site_db: tuple[Settings, Database]
) -> None:
    from core.security import PhoneVault
    from ivr.voicemail import VoicemailSweep

    settings, db = site_db
    vault = PhoneVault(settings.require_secret())
    now = datetime.now(UTC)
    callee_id, request_id = dialing_callback(db, vault, f"+{NUMBER_DIGITS}", now)
    spoken, seconds = speech(hotline_site, "callback", "Saya ingin melapor, gaji saya ditahan.")
    # What the dialer originates (into desbumi-callback, the request's id on the channel,
    # the hotline's own caller id), while nothing listens on the AGI port.
    events = hotline_site.asterisk.ami(
        {"Action": "Events", "EventMask": "call,user"},
        {
            "Action": "Originate",
            "Channel": "Local/callback@speaker",
            "Context": "desbumi-callback",
            "Exten": "s",
            "Priority": "1",
            "CallerID": "+62215550100",
            "Variable": f"DESBUMI_CALLBACK={request_id}",
            "Async": "true",
        },
        settle_s=seconds + 30,
        until=r"Event: Hangup\r\n(?:[^\r\n]+\r\n)*?Channel: Local/callback@speaker-\w+;1",
    )
    uniqueid = _dialplan_uniqueid(events, "DesbumiFallback")
    audio = settings.data_dir / "voicemail" / f"{uniqueid}.wav"
    assert audio.is_file(), "the dialplan recorded no voicemail"
    assert not audio.with_suffix(".caller").exists(), "our own number is not hers"
    assert audio.with_suffix(".callback").read_text().strip() == str(request_id)
    sweep = VoicemailSweep(settings, vault)
    with db.transaction() as s:
        assert sweep.run(s, datetime.now(UTC)) >= 1
    with db.transaction() as s:
        sweep.run(s, datetime.now(UTC))
    assert not audio.with_suffix(".callback").exists()
    with db.read_session() as s:
        call = s.scalars(select(Call).where(Call.asterisk_uniqueid == uniqueid)).one()
        assert call.direction is CallDirection.callback
        assert call.caller_id == callee_id
        case = s.scalars(select(Case).where(Case.call_id == call.id)).one()
        assert case.caller_id == callee_id
        recording = s.scalars(select(Recording).where(Recording.case_id == case.id)).one()
        assert recording.duration_s >= 0.8 * seconds
        answered = s.get(CallbackRequest, request_id)
        assert answered is not None and answered.state is CallbackState.answered
        assert answered.answered_call_id == call.id
        assert s.scalars(select(Caller.id)).all() == [callee_id], "no caller for our number"
