"""Voicemails the dialplan took while the FastAGI server was down, ingested afterwards.

The fallback in ``deploy/asterisk/extensions_desbumi.conf`` records to
``<data_dir>/voicemail/<uniqueid>.wav`` and writes the caller's number beside it
(``<uniqueid>.caller``: the dialplan cannot encrypt). This sweep turns each finished
file into a Case, its Recording and a transcription Job in ONE transaction; the audio
stays where Asterisk wrote it. The Recording row marks a file as done: the next sweep
deletes its number file, and a sweep that died before its commit simply runs again.
Nothing is moved or deleted before the database has the report. A file that cannot be
read or stored is logged once, counted, kept, and tried again by every sweep; it holds
up no other voicemail.

The plain-text number lives no longer than one sweep after it is written: each sweep
first seals every number file (encrypted like the numbers in the database, as
``<uniqueid>.sealed``), whether its recording is finished, still being written, stuck or
never made (the caller hung up during the apology). A sealed number whose recording
has not appeared within :data:`ORPHAN_AFTER` is deleted.

A voicemail left on a callback (desbumi called the caller back) has no number file: the
channel's caller id is the hotline's own. The dialplan writes the callback request's id
instead (``<uniqueid>.callback``), and the voicemail goes to that request's caller.

A missed call while the FastAGI server was down leaves ``<uniqueid>.missed`` (the
number, in plain text; the call was still rejected unanswered). The sweep seals it like
a voicemail's number, then queues the callback with :func:`ivr.store.queue_callback`, the
live path's rules (one per number per window), as asked at the file's time. The sealed
file goes once a request in the database covers it: at once when an earlier request
absorbs it, or at the next sweep (after this one's commit) when it made a new one.

When the FastAGI server died in the middle of a call, that call already has its Call
row (the same Asterisk unique id): the voicemail belongs to it, and to the report the
caller had already sent in that call, if any.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from core.callers import caller_for_number
from core.cases import create_report_case
from core.files import write_atomically
from core.models import Call, CallbackRequest, Caller, Case
from core.periodic import Failures, PeriodicTask
from core.recordings import add_recording, stored_path, stored_paths
from core.security import DecryptionFailed, InvalidPhoneNumber, PhoneVault
from core.settings import Settings
from core.states import CallbackSource, CallbackState, CallDirection, CallOutcome
from ivr.store import queue_callback

logger = logging.getLogger(__name__)

VOICEMAIL_DIR = "voicemail"
# Written by the dialplan, in plain text.
NUMBER_SUFFIX = ".caller"
# The same number encrypted by the sweep; empty when the network gave no number.
SEALED_SUFFIX = ".sealed"
# Written by the dialplan on a callback: the callback request's id (not a number).
CALLBACK_SUFFIX = ".callback"
# A missed call the FastAGI server never saw: the number in plain text, then sealed.
MISSED_SUFFIX = ".missed"
MISSED_SEALED_SUFFIX = ".missed-sealed"
# The dialplan writes the number file just before it starts recording, and a recording
# lasts at most a few minutes: a number whose recording is not there after this never
# gets one.
ORPHAN_AFTER = timedelta(hours=1)


class VoicemailSweep:
    def __init__(self, settings: Settings, vault: PhoneVault) -> None:
        self.settings = settings
        self.vault = vault
        self.folder = settings.data_dir.resolve() / VOICEMAIL_DIR
        self.ingested = 0
        # Missed calls that became a new callback request (not merged into an earlier one).
        self.missed_calls = 0
        # Files that could not be stored or sealed.
        self.failures = Failures(logger, "voicemail %s")

    def task(self, interval_s: float = 10.0) -> PeriodicTask:
        return PeriodicTask("hotline.voicemail", interval_s, self.run)

    def run(self, session: Session, now: datetime) -> int:
        """Ingest every settled voicemail; returns how many became cases."""
        if not self.folder.is_dir():
            return 0
        settle = self.settings.hotline.voicemail_settle_s
        self._seal_numbers(now, settle)
        self._queue_missed_calls(session)
        files = sorted(self.folder.glob("*.wav"))
        data_dir = self.settings.data_dir
        done = stored_paths(session, [stored_path(audio, data_dir) for audio in files])
        count = 0
        for audio in files:
            if stored_path(audio, data_dir) in done:
                # Stored by an earlier sweep: only its number file is left to remove.
                audio.with_suffix(NUMBER_SUFFIX).unlink(missing_ok=True)
                audio.with_suffix(SEALED_SUFFIX).unlink(missing_ok=True)
                audio.with_suffix(CALLBACK_SUFFIX).unlink(missing_ok=True)
                continue
            age = _age_s(audio, now)
            if age is None or age < settle:
                continue  # gone, or Asterisk may still be writing it
            try:
                # Each voicemail in its own savepoint: one that cannot be stored leaves
                # the others' cases in this sweep's commit, and is tried again next time.
                with session.begin_nested():
                    self._ingest(session, audio, now)
            except (OSError, SQLAlchemyError) as exc:
                self.failures.failed(audio.name, exc)
                continue
            self.failures.succeeded(audio.name)
            count += 1
        return count

    def _seal_numbers(self, now: datetime, settle: float) -> None:
        """Encrypt every settled plain-text number file; delete sealed orphans."""
        plain_files = [
            *self.folder.glob(f"*{NUMBER_SUFFIX}"),
            *self.folder.glob(f"*{MISSED_SUFFIX}"),
        ]
        for plain in sorted(plain_files):
            age = _age_s(plain, now)
            if age is None or age < settle:
                continue  # the dialplan may still be writing it
            try:
                number = plain.read_text(encoding="utf-8", errors="replace").strip()
                try:
                    sealed = self.vault.encrypt(number) if number else b""
                except InvalidPhoneNumber:
                    sealed = b""  # "anonymous", "unknown": nobody to call back
                target = SEALED_SUFFIX if plain.suffix == NUMBER_SUFFIX else MISSED_SEALED_SUFFIX
                # With the dialplan's times: the orphan clock runs from when it wrote them.
                write_atomically(plain.with_suffix(target), sealed, times_of=plain)
                plain.unlink(missing_ok=True)
            except OSError as exc:
                self.failures.failed(plain.name, exc)
            else:
                self.failures.succeeded(plain.name)
        beside = [
            *self.folder.glob(f"*{SEALED_SUFFIX}"),
            *self.folder.glob(f"*{CALLBACK_SUFFIX}"),
        ]
        for sealed_file in sorted(beside):
            age = _age_s(sealed_file, now)
            if sealed_file.with_suffix(".wav").exists() or age is None:
                continue
            if age >= ORPHAN_AFTER.total_seconds():
                sealed_file.unlink(missing_ok=True)
                logger.info("voicemail %s: number without a recording removed", sealed_file.stem)

    def _queue_missed_calls(self, session: Session) -> None:
        """A callback request for each sealed missed call, at the time the call came."""
        for sealed in sorted(self.folder.glob(f"*{MISSED_SEALED_SUFFIX}")):
            try:
                asked_at = datetime.fromtimestamp(sealed.stat().st_mtime, tz=UTC)
                number = self._unseal(sealed)
                decision = None
                if number:
                    with session.begin_nested():
                        decision = queue_callback(
                            session,
                            self.vault,
                            now=asked_at,
                            number=number,
                            caller_id=None,
                            source=CallbackSource.missed_call,
                            settings=self.settings.callback,
                        )
            except (OSError, SQLAlchemyError) as exc:
                self.failures.failed(sealed.name, exc)
                continue
            self.failures.succeeded(sealed.name)
            if decision is None:
                logger.info("missed call %s: no number to call back; dropped", sealed.stem)
            elif decision.created:
                # Kept until the next sweep finds the request committed (it merges then).
                self.missed_calls += 1
                logger.info("missed call %s: callback %s queued", sealed.stem, decision.request_id)
                continue
            sealed.unlink(missing_ok=True)

    def _number(self, audio: Path) -> str:
        plain, sealed = audio.with_suffix(NUMBER_SUFFIX), audio.with_suffix(SEALED_SUFFIX)
        if sealed.is_file():
            return self._unseal(sealed)
        if plain.is_file():
            return plain.read_text(encoding="utf-8", errors="replace").strip()
        return ""

    def _unseal(self, sealed: Path) -> str:
        """The number in a file the sweep sealed; "" when there was none or it does not
        decrypt (logged without the number)."""
        token = sealed.read_bytes()
        try:
            return self.vault.decrypt(token) if token else ""
        except DecryptionFailed:
            logger.warning("voicemail %s: its number does not decrypt", sealed.stem)
            return ""

    def _callback_request(self, session: Session, audio: Path) -> CallbackRequest | None:
        """The callback request this voicemail was left on, if it was a callback."""
        marker = audio.with_suffix(CALLBACK_SUFFIX)
        if not marker.is_file():
            return None
        text = marker.read_text(encoding="utf-8", errors="replace").strip()
        request = session.get(CallbackRequest, int(text)) if text.isdigit() else None
        if request is None:
            logger.warning("voicemail %s: its callback request is unknown", audio.stem)
        return request

    def _ingest(self, session: Session, audio: Path, now: datetime) -> None:
        call = session.scalar(select(Call).where(Call.asterisk_uniqueid == audio.stem))
        request = self._callback_request(session, audio)
        if call is not None and call.caller_id is not None:
            caller = _caller_of(session, call)
        elif request is not None:
            caller = session.get(Caller, request.caller_id)
        else:
            caller = caller_for_number(session, self.vault, self._number(audio), now=now)
        case = None
        if call is None:
            call = Call(
                asterisk_uniqueid=audio.stem,
                caller_id=caller.id if caller else None,
                direction=CallDirection.callback if request else CallDirection.inbound,
                started_at=datetime.fromtimestamp(audio.stat().st_mtime, tz=now.tzinfo),
                menu_path=[],
            )
            session.add(call)
            session.flush()
        else:
            # The server died mid-call: the voicemail goes with what the call already sent.
            case = session.scalar(select(Case).where(Case.call_id == call.id).limit(1))
        call.ended_at = now
        call.menu_path = [*call.menu_path, ["fallback_voicemail"]]
        if call.outcome is not CallOutcome.reported:
            call.outcome = CallOutcome.fallback_voicemail
        if request is not None and request.state in (
            CallbackState.pending,
            CallbackState.dialing,
        ):
            # She answered our callback: no further attempt.
            request.move_to(CallbackState.answered, now)
            request.answered_call_id = call.id
        if case is None:
            case = create_report_case(
                session,
                now=now,
                caller=caller,
                call_id=call.id,
                incomplete=True,
            )
        add_recording(
            session,
            audio,
            data_dir=self.settings.data_dir,
            fmt="wav",
            now=now,
            language="id",
            case_id=case.id,
            call_id=call.id,
            partial=False,
        )
        self.ingested += 1
        logger.info("call %s: fallback voicemail ingested into case %s", call.id, case.id)


def _age_s(path: Path, now: datetime) -> float | None:
    try:
        return now.timestamp() - path.stat().st_mtime
    except FileNotFoundError:
        return None


def _caller_of(session: Session, call: Call) -> Caller | None:
    return session.get(Caller, call.caller_id) if call.caller_id is not None else None
