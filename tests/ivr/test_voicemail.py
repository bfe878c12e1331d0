"""The fallback voicemail's number files on disk, without a call, on SQLite and PostgreSQL.

The dialplan writes the caller's number in plain text beside the recording. Whatever
becomes of the recording (never made, still being written, stuck), that plain text must
not outlive one sweep, and what is left of it must not stay forever.
"""

from __future__ import annotations

import logging
import os
import wave
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from core.db import Database
from core.models import Call, CallbackRequest, Caller, Case, Recording
from core.security import PhoneVault
from core.settings import Settings
from core.states import CallbackSource, CallbackState, CallDirection
from ivr.store import HotlineStore
from ivr.voicemail import ORPHAN_AFTER, VoicemailSweep
from tests.conftest import TEST_SECRET
from tests.ivr.conftest import dialing_callback

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
NUMBER = "+6281234500077"
DIGITS = NUMBER.lstrip("+")


class _Clock:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment


def _folder(settings: Settings) -> Path:
    folder = settings.data_dir / "voicemail"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _age(path: Path, seconds: float) -> None:
    moment = NOW.timestamp() - seconds
    os.utime(path, (moment, moment))


def _number_file(settings: Settings, uniqueid: str, age_s: float = 60.0) -> Path:
    path = _folder(settings) / f"{uniqueid}.caller"
    path.write_text(NUMBER + "\n", encoding="utf-8")
    _age(path, age_s)
    return path


def _recording(settings: Settings, uniqueid: str, age_s: float = 60.0) -> Path:
    path = _folder(settings) / f"{uniqueid}.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x10" * 8000)
    _age(path, age_s)
    return path


def _plain_text_anywhere(settings: Settings) -> list[Path]:
    files = [p for p in _folder(settings).iterdir() if p.is_file()]
    plain = (".caller", ".missed")
    return [p for p in files if DIGITS.encode() in p.read_bytes() or p.suffix in plain]


def _sweep(settings: Settings, db: Database, now: datetime = NOW) -> int:
    sweep = VoicemailSweep(settings, PhoneVault(TEST_SECRET))
    with db.transaction() as s:
        return sweep.run(s, now)


def test_a_number_without_a_recording_is_sealed_at_once_and_removed_later(
    settings: Settings, db: Database
) -> None:
    # She hung up during the apology: the number file was written, the recording never.
    _number_file(settings, "1700000000.5")
    assert _sweep(settings, db) == 0
    assert _plain_text_anywhere(settings) == []
    left = list(_folder(settings).iterdir())
    assert [p.name for p in left] == ["1700000000.5.sealed"]
    assert _sweep(settings, db, NOW + ORPHAN_AFTER - timedelta(minutes=5)) == 0
    assert left[0].exists()
    assert _sweep(settings, db, NOW + ORPHAN_AFTER + timedelta(minutes=1)) == 0
    assert list(_folder(settings).iterdir()) == []


def test_a_number_is_sealed_while_its_recording_is_still_being_written(
    settings: Settings, db: Database
) -> None:
    _number_file(settings, "1700000000.6", age_s=120)
    _recording(settings, "1700000000.6", age_s=0)  # Asterisk is still writing it
    assert _sweep(settings, db) == 0
    assert _plain_text_anywhere(settings) == []
    assert (_folder(settings) / "1700000000.6.sealed").is_file()


def test_a_voicemail_with_a_sealed_number_keeps_its_caller(
    settings: Settings, db: Database
) -> None:
    _number_file(settings, "1700000000.7")
    _recording(settings, "1700000000.7")
    assert _sweep(settings, db) == 1
    assert _plain_text_anywhere(settings) == []
    assert _sweep(settings, db) == 0  # stored: the sealed number goes too
    assert [p.suffix for p in _folder(settings).iterdir()] == [".wav"]
    vault = PhoneVault(TEST_SECRET)
    with db.read_session() as s:
        recording = s.scalars(select(Recording)).one()
        case = s.get(Case, recording.case_id)
        assert case is not None and case.caller_id is not None
        caller = s.get(Caller, case.caller_id)
        assert caller is not None and vault.decrypt(caller.phone_encrypted) == NUMBER


def test_a_voicemail_that_cannot_be_read_holds_up_no_other_and_is_kept(
    settings: Settings, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    # Three voicemails; the middle one cannot be read (here: a directory where the file
    # should be, as root reads any file). The other two become cases in the same sweep.
    _number_file(settings, "1700000001.1")
    _recording(settings, "1700000001.1")
    broken = _folder(settings) / "1700000001.2.wav"
    broken.mkdir()
    _age(broken, 60.0)
    _number_file(settings, "1700000001.2")
    _recording(settings, "1700000001.3")
    sweep = VoicemailSweep(settings, PhoneVault(TEST_SECRET))
    caplog.set_level(logging.INFO, logger="ivr.voicemail")
    for _ in range(3):
        with db.transaction() as s:
            sweep.run(s, NOW)
    assert sweep.ingested == 2
    assert sweep.failures.count == 3, "each sweep counts the file it could not store"
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        "voicemail 1700000001.2.wav: not stored (IsADirectoryError); "
        "the file is kept and tried again each sweep"
    ], "one warning for the file, not one per sweep"
    assert DIGITS not in caplog.text
    with db.read_session() as s:
        stored = sorted(s.scalars(select(Recording.path)))
        assert stored == ["voicemail/1700000001.1.wav", "voicemail/1700000001.3.wav"]
        assert len(s.scalars(select(Case)).all()) == 2, "no case is left without its recording"
    # Its number is sealed meanwhile, and kept for it.
    assert _plain_text_anywhere(settings) == []
    assert (_folder(settings) / "1700000001.2.sealed").is_file()

    # Once the file is readable, the next sweep stores it, with its caller.
    broken.rmdir()
    _recording(settings, "1700000001.2")
    with db.transaction() as s:
        assert sweep.run(s, NOW) == 1
    with db.read_session() as s:
        recording = s.scalars(
            select(Recording).where(Recording.path == "voicemail/1700000001.2.wav")
        ).one()
        case = s.get(Case, recording.case_id)
        assert case is not None and case.caller_id is not None


def test_a_number_file_that_cannot_be_read_is_counted_and_the_others_are_sealed(
    settings: Settings, db: Database
) -> None:
    broken = _folder(settings) / "1700000002.1.caller"
    broken.mkdir()
    _age(broken, 60.0)
    _number_file(settings, "1700000002.2")
    sweep = VoicemailSweep(settings, PhoneVault(TEST_SECRET))
    with db.transaction() as s:
        sweep.run(s, NOW)
    assert sweep.failures.count == 1
    assert (_folder(settings) / "1700000002.2.sealed").is_file()
    assert not (_folder(settings) / "1700000002.2.caller").exists()


def _missed_file(settings: Settings, uniqueid: str, number: str, age_s: float) -> Path:
    """What the dialplan writes for a missed call the FastAGI server never saw."""
    path = _folder(settings) / f"{uniqueid}.missed"
    path.write_text(number, encoding="utf-8")
    _age(path, age_s)
    return path


def test_missed_calls_noted_by_the_dialplan_become_one_callback_request(
    settings: Settings, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    # Two missed calls from her within the window while the server was down, and two
    # nobody can be called back on.
    _missed_file(settings, "1700000003.1", NUMBER, age_s=300)
    _missed_file(settings, "1700000003.2", NUMBER, age_s=120)
    _missed_file(settings, "1700000003.3", "anonymous", age_s=100)
    _missed_file(settings, "1700000003.4", "", age_s=100)
    caplog.set_level(logging.INFO, logger="ivr.voicemail")
    sweep = VoicemailSweep(settings, PhoneVault(TEST_SECRET))
    with db.transaction() as s:
        assert sweep.run(s, NOW) == 0, "no voicemail among them"
    assert sweep.missed_calls == 1
    assert [p for p in _folder(settings).iterdir() if p.suffix == ".missed"] == []
    assert _plain_text_anywhere(settings) == []
    with db.read_session() as s:
        request = s.scalars(select(CallbackRequest)).one()
        assert request.source is CallbackSource.missed_call
        assert request.state is CallbackState.pending
        asked_at = NOW - timedelta(seconds=300)
        assert request.created_at.replace(tzinfo=UTC) == asked_at, "asked when she called"
        assert request.due_at.replace(tzinfo=UTC) == asked_at + timedelta(
            seconds=settings.callback.delay_s
        )
        caller = s.get(Caller, request.caller_id)
        assert caller is not None
        assert PhoneVault(TEST_SECRET).decrypt(caller.phone_encrypted) == NUMBER
    dropped = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert dropped == [
        "missed call 1700000003.3: no number to call back; dropped",
        "missed call 1700000003.4: no number to call back; dropped",
    ]
    assert DIGITS not in caplog.text
    # The next sweep finds the request committed; nothing of the calls is left on disk.
    with db.transaction() as s:
        sweep.run(s, NOW + timedelta(seconds=10))
    assert list(_folder(settings).iterdir()) == []
    with db.read_session() as s:
        assert len(s.scalars(select(CallbackRequest)).all()) == 1


def test_a_missed_call_noted_by_the_dialplan_merges_with_one_the_server_stored(
    settings: Settings, db: Database
) -> None:
    # The server stored her first missed call; the second came while it was down.
    store = HotlineStore(db, PhoneVault(TEST_SECRET), _Clock(NOW), settings.data_dir)
    first = store.request_callback(
        number=NUMBER, caller_id=None, source=CallbackSource.missed_call, settings=settings.callback
    )
    store.close()
    assert first is not None and first.created
    _missed_file(settings, "1700000004.1", NUMBER, age_s=-60)
    later = NOW + timedelta(minutes=2)
    sweep = VoicemailSweep(settings, PhoneVault(TEST_SECRET))
    with db.transaction() as s:
        sweep.run(s, later)
    assert sweep.missed_calls == 0
    assert list(_folder(settings).iterdir()) == [], "absorbed: nothing kept"
    with db.read_session() as s:
        assert s.scalars(select(CallbackRequest.id)).all() == [first.request_id]


def test_a_voicemail_left_on_a_callback_goes_to_the_caller_called_back(
    settings: Settings, db: Database
) -> None:
    caller_id, request_id = dialing_callback(db, PhoneVault(TEST_SECRET), NUMBER, NOW)
    # The dialplan on the originated call: the request's id, and no number (the
    # channel's caller id is the hotline's own).
    marker = _folder(settings) / "1700000005.1.callback"
    marker.write_text(str(request_id), encoding="utf-8")
    _age(marker, 60)
    _recording(settings, "1700000005.1")
    assert _sweep(settings, db) == 1
    with db.read_session() as s:
        call = s.scalars(select(Call)).one()
        assert call.direction is CallDirection.callback
        assert call.caller_id == caller_id
        case = s.scalars(select(Case)).one()
        assert case.caller_id == caller_id
        stored = s.get(CallbackRequest, request_id)
        assert stored is not None and stored.state is CallbackState.answered
        assert stored.answered_call_id == call.id
        assert len(s.scalars(select(Caller)).all()) == 1, "no caller for our own number"
    assert _sweep(settings, db) == 0
    assert [p.suffix for p in _folder(settings).iterdir()] == [".wav"]
