"""What the hotline reads and writes in the database.

Every function is synchronous and opens its own short transaction; the call flow runs
them through :meth:`HotlineStore.run` in a helper process (or on a thread), so the event
loop that serves every call never waits on the database. A report is ONE transaction: the
Case, its Recording and the transcription Job are stored together or not at all.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import multiprocessing
import os
import select as io_select
import signal
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ParamSpec, TypeVar, cast

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from core.callers import caller_for_number
from core.cases import create_report_case
from core.clock import Clock
from core.db import Database
from core.models import (
    Call,
    CallbackRequest,
    Caller,
    Case,
    ContentItem,
    Recording,
    Segment,
    Village,
)
from core.recordings import add_recording, stored_path
from core.security import PhoneVault
from core.settings import CallbackSettings, Settings
from core.states import (
    CallbackSource,
    CallbackState,
    CallDirection,
    CallOutcome,
    SegmentStatus,
)

logger = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

# No call lasts this long: one still "in progress" after it lost its end (the FastAGI
# server was killed, or the database failed as the call ended).
STALE_CALL_AFTER = timedelta(hours=6)


@dataclass(frozen=True)
class CallRecord:
    call_id: int
    caller_id: int | None
    # The language the caller chose last time, so a repeat caller can skip the choice.
    preferred_language: str | None


@dataclass(frozen=True)
class ContentRef:
    """One approved content item to play: its newest version in the caller's language."""

    id: int
    slug: str
    version: int
    text: str
    # An uploaded recording (relative to the data directory, without extension).
    audio_base: str | None


@dataclass(frozen=True)
class Report:
    case_id: int
    reference: str
    recording_ids: list[int]
    duration_s: float


@dataclass(frozen=True)
class CallbackDecision:
    request_id: int
    # False when an earlier request of the same number within the window absorbed it.
    created: bool


class StoreProcess:
    """A helper process that runs :class:`HotlineStore` methods with its own database
    connection, so their Python work (the ORM, encryption) never holds the GIL that the
    FastAGI event loop needs to play every caller's next prompt (bench/hotline_load.py
    measured it holding the GIL two thirds of the time at 200 calls)."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self._args = (settings, clock)
        self._pool = self._start()

    def _start(self) -> ProcessPoolExecutor:
        # forkserver: a clean, thread-free parent to fork from, with the imports done once.
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["ivr.store"])
        pool = ProcessPoolExecutor(
            1, mp_context=context, initializer=_start_helper, initargs=(*self._args, os.getpid())
        )
        pool.submit(_ready)  # start it now, not when the first caller reports
        return pool

    async def call(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        loop = asyncio.get_running_loop()
        job = functools.partial(_in_helper, name, args, kwargs)
        try:
            return await loop.run_in_executor(self._pool, job)
        except BrokenProcessPool:
            # The helper died (killed, out of memory): start another and try once more.
            logger.error("the hotline's database process died; starting a new one")
            self._pool = self._start()
            return await loop.run_in_executor(self._pool, job)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


# The helper process's own store (set by its initializer; empty in every other process).
_HELPER: dict[str, HotlineStore] = {}


def _start_helper(settings: Settings, clock: Clock, server: int) -> None:
    # The parent decides when to stop: a Ctrl-C to the process group must not kill the
    # helper while the parent still stores the calls in hand.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _end_with(server)
    db = Database.from_settings(settings)
    _HELPER["store"] = HotlineStore(
        db, PhoneVault(settings.require_secret()), clock, settings.data_dir
    )


def _end_with(server: int) -> None:
    """End the helper when the server process ends, killed or not. Its pool would keep it
    waiting for work for ever (the helper holds both ends of its own queue's pipes), with
    a database connection and a hundred megabytes, and the forkserver with it."""
    try:
        watched = os.pidfd_open(server)
    except ProcessLookupError:
        os._exit(0)  # gone already
    except OSError as exc:  # a kernel before 5.3: the helper lives as it did
        logger.warning("the hotline's database process cannot watch its server (%s)", exc)
        return

    def watch() -> None:
        io_select.select([watched], [], [])  # readable once the server has exited
        os._exit(0)

    threading.Thread(target=watch, name="server-watch", daemon=True).start()


def _ready() -> bool:
    return "store" in _HELPER


def _in_helper(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return getattr(_HELPER["store"], name)(*args, **kwargs)


class HotlineStore:
    """The hotline's transactions. :meth:`run` runs one away from the event loop: in the
    ``helper`` process when there is one (the FastAGI server), else on one thread."""

    def __init__(
        self,
        db: Database,
        vault: PhoneVault,
        clock: Clock,
        data_dir: Path,
        helper: StoreProcess | None = None,
    ) -> None:
        self.db = db
        self.vault = vault
        self.clock = clock
        self.data_dir = data_dir
        self.helper = helper
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="hotline-db")

    async def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn``, one of this store's methods, in the helper or on the thread."""
        if self.helper is not None:
            return cast(T, await self.helper.call(fn.__name__, args, kwargs))
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        self._thread.shutdown(wait=True)
        if self.helper is not None:
            self.helper.close()

    def start_call(
        self,
        uniqueid: str,
        number: str | None,
        *,
        direction: CallDirection = CallDirection.inbound,
        callback_request_id: int | None = None,
    ) -> CallRecord:
        """Store the call (and the caller, encrypted); a callback's request is answered."""
        now = self.clock.now()
        with self.db.transaction() as session:
            existing = session.scalar(select(Call).where(Call.asterisk_uniqueid == uniqueid))
            if existing is not None:
                # The same channel came back to the menu (e.g. AGI re-entered): one Call.
                return CallRecord(existing.id, existing.caller_id, None)
            request = (
                session.get(CallbackRequest, callback_request_id)
                if callback_request_id is not None
                else None
            )
            # A callback's callee is the caller who asked; the channel shows our own number.
            caller = (
                session.get(Caller, request.caller_id)
                if request is not None
                else caller_for_number(session, self.vault, number, now=now)
            )
            call = Call(
                asterisk_uniqueid=uniqueid,
                caller_id=caller.id if caller else None,
                direction=direction,
                started_at=now,
                menu_path=[],
            )
            session.add(call)
            session.flush()
            if request is not None:
                if request.state in (
                    CallbackState.dialing,
                    CallbackState.pending,
                ):
                    request.move_to(CallbackState.answered, now)
                    request.answered_call_id = call.id
            return CallRecord(
                call.id,
                caller.id if caller else None,
                caller.preferred_language if caller and caller.first_seen_at != now else None,
            )

    def finish_call(
        self, call_id: int, outcome: CallOutcome, menu_path: list[Any], language: str
    ) -> None:
        now = self.clock.now()
        with self.db.transaction() as session:
            call = session.get(Call, call_id)
            if call is None:
                return
            call.ended_at = now
            call.outcome = outcome
            call.language = language
            call.menu_path = list(menu_path)
            if call.caller_id is not None:
                caller = session.get(Caller, call.caller_id)
                if caller is not None:
                    caller.preferred_language = language

    def approved_content(self, topic: str, language: str) -> list[ContentRef]:
        """The newest approved version of each item of ``topic``, valid now."""
        now = self.clock.now()
        newest = (
            select(ContentItem.slug, func.max(ContentItem.version).label("version"))
            .where(
                ContentItem.topic == topic,
                ContentItem.language == language,
                ContentItem.playable_at(now),
            )
            .group_by(ContentItem.slug)
            .subquery()
        )
        with self.db.read_session() as session, session.begin():
            rows = session.scalars(
                select(ContentItem)
                .join(
                    newest,
                    (ContentItem.slug == newest.c.slug) & (ContentItem.version == newest.c.version),
                )
                .order_by(ContentItem.priority.desc(), ContentItem.slug)
            ).all()
            return [_content_ref(item) for item in rows]

    def announcements(self, language: str) -> list[ContentRef]:
        """Approved priority items in ``language`` that are valid now, newest first."""
        now = self.clock.now()
        with self.db.read_session() as session, session.begin():
            rows = session.scalars(
                select(ContentItem)
                .where(
                    ContentItem.priority.is_(True),
                    ContentItem.language == language,
                    ContentItem.playable_at(now),
                )
                .order_by(ContentItem.approved_at.desc(), ContentItem.id.desc())
                .limit(3)
            ).all()
            return [_content_ref(item) for item in rows]

    def latest_segment(self) -> str | None:
        """The telephone version of the newest segment that has aired or is ready.

        ``Segment.files["telephone"]`` is an 8 kHz file relative to the data directory,
        without extension (the radio scheduler writes it).
        """
        now = self.clock.now()
        with self.db.read_session() as session, session.begin():
            segments = session.scalars(
                select(Segment)
                .where(
                    Segment.status.in_([SegmentStatus.ready, SegmentStatus.aired]),
                    Segment.air_at <= now,
                )
                .order_by(Segment.air_at.desc())
                .limit(5)
            ).all()
            for segment in segments:
                telephone = segment.files.get("telephone")
                if isinstance(telephone, str) and telephone:
                    return telephone
        return None

    def submit_report(
        self,
        *,
        call_id: int,
        caller_id: int | None,
        language: str,
        hints: dict[str, str],
        recordings: list[Path],
        fmt: str,
        partial: bool,
    ) -> Report:
        """Case + Recording(s) + transcription Job(s) in ONE transaction (see store_report)."""
        with self.db.transaction() as session:
            report, _ = store_report(
                session,
                self.data_dir,
                now=self.clock.now(),
                call_id=call_id,
                caller_id=caller_id,
                language=language,
                hints=hints,
                recordings=recordings,
                fmt=fmt,
                partial=partial,
            )
            return report

    def request_callback(
        self,
        *,
        number: str | None,
        caller_id: int | None,
        source: CallbackSource,
        settings: CallbackSettings,
        call_id: int | None = None,
        preferred_time: str = "any",
        language: str = "id",
    ) -> CallbackDecision | None:
        """:func:`queue_callback` now, in its own transaction."""
        with self.db.transaction() as session:
            return queue_callback(
                session,
                self.vault,
                now=self.clock.now(),
                number=number,
                caller_id=caller_id,
                source=source,
                settings=settings,
                call_id=call_id,
                preferred_time=preferred_time,
                language=language,
            )


def queue_callback(
    session: Session,
    vault: PhoneVault,
    *,
    now: datetime,
    number: str | None,
    caller_id: int | None,
    source: CallbackSource,
    settings: CallbackSettings,
    call_id: int | None = None,
    preferred_time: str = "any",
    language: str = "id",
) -> CallbackDecision | None:
    """Queue a callback asked for at ``now``; one per number and source per ``window_min``.

    A missed call is called back into the menu by the dialer; a menu request waits in the
    case workers' queue for a person to call. None for a withheld number. The live call
    and the voicemail sweep (a missed call the dialplan noted while the FastAGI server was
    down) both come here, so the same window merges them.
    """
    caller = (
        session.get(Caller, caller_id)
        if caller_id is not None
        else caller_for_number(session, vault, number, now=now)
    )
    if caller is None:
        return None
    window_start = now - timedelta(minutes=settings.window_min)
    earlier = session.scalar(
        select(CallbackRequest)
        .where(
            CallbackRequest.phone_hash == caller.phone_hash,
            CallbackRequest.source == source,
            or_(
                CallbackRequest.created_at >= window_start,
                CallbackRequest.state.in_([CallbackState.pending, CallbackState.dialing]),
            ),
            CallbackRequest.state != CallbackState.cancelled,
        )
        .order_by(CallbackRequest.created_at.desc())
        .limit(1)
    )
    if earlier is not None:
        if source is CallbackSource.menu and earlier.state is CallbackState.pending:
            # Asked again: the newest preferred time is the one that holds.
            earlier.preferred_time = preferred_time
            earlier.updated_at = now
        return CallbackDecision(earlier.id, created=False)
    delay = settings.delay_s if source is CallbackSource.missed_call else 0.0
    request = CallbackRequest(
        caller_id=caller.id,
        phone_hash=caller.phone_hash,
        source=source,
        call_id=call_id,
        preferred_time=preferred_time,
        language=language or caller.preferred_language,
        state=CallbackState.pending,
        attempts=0,
        due_at=now + timedelta(seconds=delay),
        created_at=now,
        updated_at=now,
    )
    session.add(request)
    session.flush()
    return CallbackDecision(request.id, created=True)


def store_report(
    session: Session,
    data_dir: Path,
    *,
    now: datetime,
    call_id: int,
    caller_id: int | None,
    language: str,
    hints: dict[str, str],
    recordings: list[Path],
    fmt: str,
    partial: bool,
) -> tuple[Report, bool]:
    """Case + Recording(s) + transcription Job(s), in ``session``'s transaction, as
    reported at ``now``. Returns the report and whether it is new: a report already
    stored (the same recordings, or with none the same call and keypad hints) is
    returned as it is, so a retry never makes one report two cases.

    With no recording at all (the caller hung up before speaking) the case is still
    stored, incomplete: her number and keypad hints are a lead for a case worker.
    """
    earlier = _stored_report(session, data_dir, call_id, hints, recordings)
    if earlier is not None:
        return earlier, False
    village_code = hints.get("village", "")
    village_id = (
        session.scalar(select(Village.id).where(Village.code == village_code))
        if village_code
        else None
    )
    caller = session.get(Caller, caller_id) if caller_id is not None else None
    case = create_report_case(
        session,
        now=now,
        caller=caller,
        call_id=call_id,
        village_id=village_id,
        language=language,
        keypad_hints=hints,
        incomplete=partial,
    )
    if caller is not None and village_id is not None and caller.home_village_id is None:
        caller.home_village_id = village_id
    stored = [
        add_recording(
            session,
            path,
            data_dir=data_dir,
            fmt=fmt,
            now=now,
            language=language,
            case_id=case.id,
            call_id=call_id,
            partial=partial and index == len(recordings) - 1,
        )
        for index, path in enumerate(recordings)
    ]
    if not stored:
        case.incomplete = True
    call = session.get(Call, call_id)
    if call is not None:
        call.outcome = CallOutcome.reported
        if village_id is not None:
            call.village_id = village_id
    report = Report(
        case.id, case.reference, [r.id for r in stored], sum(r.duration_s for r in stored)
    )
    return report, True


def _stored_report(
    session: Session,
    data_dir: Path,
    call_id: int,
    hints: dict[str, str],
    recordings: list[Path],
) -> Report | None:
    """The report already stored for these recordings (or, with none, for this call and
    these keypad hints), if any.

    The helper process may die after its commit and before its answer, and the engine
    then asks again (StoreProcess.call); a spooled report may have been stored by a
    sweep whose process died before it deleted the spool file.
    """
    if recordings:
        first = stored_path(recordings[0], data_dir)
        case_id = session.scalar(select(Recording.case_id).where(Recording.path == first).limit(1))
        case = session.get(Case, case_id) if case_id is not None else None
    else:
        with_recordings = select(Recording.case_id).where(Recording.case_id.is_not(None))
        candidates = session.scalars(
            select(Case).where(Case.call_id == call_id, Case.id.not_in(with_recordings))
        ).all()
        case = next((c for c in candidates if c.keypad_hints == hints), None)
    if case is None:
        return None
    rows = session.scalars(
        select(Recording).where(Recording.case_id == case.id).order_by(Recording.id)
    ).all()
    return Report(case.id, case.reference, [r.id for r in rows], sum(r.duration_s for r in rows))


def close_stale_calls(session: Session, now: datetime) -> int:
    """Calls still "in progress" long after any call ends become ``failed`` (their end is
    unknown, so ``ended_at`` stays empty), so no caller's history shows a call in progress
    for ever. A call whose report was stored keeps its outcome ``reported``."""
    stale = session.scalars(
        select(Call).where(
            Call.outcome == CallOutcome.in_progress,
            Call.ended_at.is_(None),
            Call.started_at < now - STALE_CALL_AFTER,
        )
    ).all()
    for call in stale:
        call.outcome = CallOutcome.failed
    if stale:
        logger.warning(
            "%s calls lost their end (server killed or database down); marked failed", len(stale)
        )
    return len(stale)


def _content_ref(item: ContentItem) -> ContentRef:
    audio = item.audio_path
    if audio:
        audio = str(Path(audio).with_suffix(""))
    return ContentRef(item.id, item.slug, item.version, item.body_text, audio or None)
