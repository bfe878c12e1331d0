"""Voicemails the dialplan took while the FastAGI server was down, ingested afterwards.

The fallback in ``deploy/asterisk/extensions_desbumi.conf`` records to
``<data_dir>/voicemail/<uniqueid>.wav`` and writes the caller's number beside it
(``<uniqueid>.caller``: the dialplan cannot encrypt). This sweep turns each finished
file into a Case, its Recording and a transcription Job in ONE transaction; the audio
stays where Asterisk wrote it. The Recording row marks a file as done: the next sweep
deletes its number file, and a sweep that died before its commit simply runs again.
Nothing is moved or deleted before the database has the report.

When the FastAGI server died in the middle of a call, that call already has its Call
row (the same Asterisk unique id): the voicemail belongs to it, and to the report the
caller had already sent in that call, if any.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.callers import caller_for_number
from core.cases import create_report_case
from core.models import Call, Caller, Case, Recording
from core.periodic import PeriodicTask
from core.recordings import add_recording, stored_path
from core.security import PhoneVault
from core.settings import Settings
from core.states import CallDirection, CallOutcome

logger = logging.getLogger(__name__)

VOICEMAIL_DIR = "voicemail"


class VoicemailSweep:
    def __init__(self, settings: Settings, vault: PhoneVault) -> None:
        self.settings = settings
        self.vault = vault
        self.folder = settings.data_dir.resolve() / VOICEMAIL_DIR
        self.ingested = 0

    def task(self, interval_s: float = 10.0) -> PeriodicTask:
        return PeriodicTask("hotline.voicemail", interval_s, self.run)

    def run(self, session: Session, now: datetime) -> int:
        """Ingest every settled voicemail; returns how many became cases."""
        if not self.folder.is_dir():
            return 0
        settle = self.settings.hotline.voicemail_settle_s
        files = sorted(self.folder.glob("*.wav"))
        data_dir = self.settings.data_dir
        done = set(
            session.scalars(
                select(Recording.path).where(
                    Recording.path.in_([stored_path(audio, data_dir) for audio in files])
                )
            )
        )
        count = 0
        for audio in files:
            if stored_path(audio, data_dir) in done:
                # Stored by an earlier sweep: only the plain-text number is left to remove.
                audio.with_suffix(".caller").unlink(missing_ok=True)
                continue
            try:
                age = now.timestamp() - audio.stat().st_mtime
            except FileNotFoundError:
                continue
            if age < settle:
                continue  # Asterisk may still be writing it
            self._ingest(session, audio, now)
            count += 1
        return count

    def _ingest(self, session: Session, audio: Path, now: datetime) -> None:
        number_file = audio.with_suffix(".caller")
        number = ""
        if number_file.is_file():
            number = number_file.read_text(encoding="utf-8", errors="replace").strip()
        caller = caller_for_number(session, self.vault, number, now=now)
        call = session.scalar(select(Call).where(Call.asterisk_uniqueid == audio.stem))
        case = None
        if call is None:
            call = Call(
                asterisk_uniqueid=audio.stem,
                caller_id=caller.id if caller else None,
                direction=CallDirection.inbound,
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
        if case is None:
            case = create_report_case(
                session,
                now=now,
                caller=caller if caller is not None else _caller_of(session, call),
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


def _caller_of(session: Session, call: Call) -> Caller | None:
    return session.get(Caller, call.caller_id) if call.caller_id is not None else None
