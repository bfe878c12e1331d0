"""Reports the hotline could not store while the caller was on the line, stored later.

When a report's transaction fails (the database is down, locked past its busy timeout,
refusing connections), the engine writes what the transaction needed into the spool,
``<data_dir>/spool/reports/<name>.json`` (mode 0600, written whole or not at all): the
Call and Caller row ids (never the number), her language, keypad hints, the recordings
(paths relative to the data directory, which stay where Asterisk wrote them), whether
the report was complete, and when she made it. The scheduler's ``hotline.pending`` task
then stores each spooled report through :func:`ivr.store.store_report`, the live path's
own transaction, dated when she reported, not when the database came back.

A spool file is deleted only once its report is in a committed transaction: a sweep
stores it, and the next sweep finds the report already stored and deletes the file. A
sweep that dies before its commit simply runs again, and one that dies after it finds
the report already there (by its recordings), so a report becomes one case, never two
and never none. A spool file that cannot be read or stored is kept, logged once,
counted and tried again by every sweep.

A FastAGI server that is killed (SIGKILL, out of memory, power) between her recording
and its report leaves a take in ``<data_dir>/recordings/`` that no Recording row and no
spool file names. The scheduler's ``hotline.orphan_takes`` task stores such takes as an
incomplete report of their call (found by the Asterisk unique id in the file name),
dated when the take was recorded: once the call has ended (the dialplan's fallback
voicemail ended it, say), a minute after the take was written; while the call still
shows in progress, an hour after, longer than any report takes to send. A take that a
later stored take of the same call superseded (she recorded again) is deleted, as the
engine would have done. Her keypad hints survive the same way: while a take is recorded
and her report is not yet stored, the engine keeps them beside it
(``<take>.hints.json``, mode 0600), and the orphan's report carries them; the file goes
once the take is stored, by the engine or by the next sweep.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.files import write_atomically
from core.models import Call, Recording
from core.periodic import Failures, PeriodicTask
from core.recordings import has_audio, stored_path, stored_paths
from core.settings import Settings
from ivr.store import store_report

logger = logging.getLogger(__name__)

SPOOL_DIR = Path("spool") / "reports"
RECORDINGS_DIR = "recordings"
# How long a take may wait for its report: after its call ended, and while it shows live.
TAKE_SETTLE = timedelta(minutes=1)
TAKE_ORPHAN_AFTER = timedelta(hours=1)
# The engine's take files (take_name): <Asterisk unique id>-<take number>.<format>.
_TAKE = re.compile(r"(?P<call>.+)-(?P<take>\d+)\.(?P<fmt>[a-z0-9]+)")


def safe_call_id(uniqueid: str) -> str:
    """An Asterisk unique id as a part of a file name (it is digits and a dot)."""
    return "".join(c for c in uniqueid if c.isalnum() or c in "._-") or "call"


def take_name(uniqueid: str, number: int, fmt: str) -> str:
    """The file name of a call's ``number``-th take, as ``_TAKE`` reads it back."""
    return f"{safe_call_id(uniqueid)}-{number}.{fmt}"


HINTS_SUFFIX = ".hints.json"


def hints_path(take: Path) -> Path:
    """Where a take's keypad hints wait beside it until her report is stored."""
    return take.with_name(take.name + HINTS_SUFFIX)


def keep_hints(take: Path, hints: dict[str, str]) -> None:
    """Her hints beside ``take``, whole or not at all (not synced: a crash that loses
    them loses only the hints, never the take)."""
    write_atomically(hints_path(take), json.dumps(hints, sort_keys=True).encode())


def read_hints(take: Path) -> dict[str, str]:
    """The hints kept beside ``take``; none kept, or unreadable (logged), is no hints."""
    path = hints_path(take)
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        logger.warning("%s unreadable (%s): its take is stored without hints", path.name, exc)
        return {}
    if not isinstance(data, dict) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in data.items()
    ):
        logger.warning("%s is not keypad hints: its take is stored without hints", path.name)
        return {}
    return data


class UnreadableSpoolFile(ValueError):
    """A spool file that is not a report this version can store."""


@dataclass(frozen=True)
class PendingReport:
    # The Asterisk unique id, for the logs (the engine logs the call under it).
    asterisk_id: str
    call_id: int
    caller_id: int | None
    language: str
    hints: dict[str, str]
    # Relative to the data directory.
    recordings: list[str]
    fmt: str
    partial: bool
    reported_at: datetime
    version: int = field(default=1)

    def to_json(self) -> bytes:
        data = asdict(self)
        data["reported_at"] = self.reported_at.isoformat()
        return json.dumps(data, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> PendingReport:
        try:
            data: Any = json.loads(raw)
        except ValueError as exc:
            raise UnreadableSpoolFile("not a spooled report (not JSON)") from exc
        if not isinstance(data, dict):
            raise UnreadableSpoolFile("not a spooled report (not a JSON object)")
        if data.get("version") != 1:
            raise UnreadableSpoolFile(f"unknown spool version {data.get('version')!r}")
        try:
            data["reported_at"] = datetime.fromisoformat(data["reported_at"])
            report = cls(**data)
        except (ValueError, TypeError, KeyError) as exc:
            raise UnreadableSpoolFile(f"not a spooled report ({type(exc).__name__})") from exc
        if not report._well_typed():
            raise UnreadableSpoolFile("not a spooled report (wrong field types)")
        return report

    def _well_typed(self) -> bool:
        return (
            isinstance(self.asterisk_id, str)
            and type(self.call_id) is int
            and (self.caller_id is None or type(self.caller_id) is int)
            and isinstance(self.language, str)
            and isinstance(self.hints, dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in self.hints.items())
            and isinstance(self.recordings, list)
            and all(isinstance(p, str) for p in self.recordings)
            and isinstance(self.fmt, str)
            and isinstance(self.partial, bool)
        )


def spool_report(data_dir: Path, report: PendingReport) -> Path:
    """Write ``report`` into the spool, durably (fsync), readable by this user only."""
    folder = data_dir / SPOOL_DIR
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    name = f"{report.reported_at:%Y%m%dT%H%M%S}-{safe_call_id(report.asterisk_id)}-{report.call_id}"
    target = folder / f"{name}-{secrets.token_hex(8)}.json"
    write_atomically(target, report.to_json(), durable=True)
    return target


class PendingReports:
    """The scheduler's task that stores spooled reports (see the module's docstring)."""

    def __init__(self, settings: Settings) -> None:
        self.data_dir = settings.data_dir
        self.folder = settings.data_dir / SPOOL_DIR
        # Reports stored from the spool; spool files that could not be read or stored.
        self.stored = 0
        self.failures = Failures(logger, "pending report %s")

    def task(self, interval_s: float = 10.0) -> PeriodicTask:
        return PeriodicTask("hotline.pending", interval_s, self.run)

    def run(self, session: Session, now: datetime) -> int:
        """Store every spooled report; returns how many became cases in this sweep."""
        if not self.folder.is_dir():
            return 0
        count = 0
        for path in sorted(self.folder.glob("*.json")):
            try:
                pending = PendingReport.from_json(path.read_bytes())
                recordings = [self.data_dir / p for p in pending.recordings]
                present = [p for p in recordings if p.is_file()]
                if len(present) < len(recordings):
                    logger.error(
                        "pending report %s: %s of its recordings are missing; storing the rest",
                        pending.asterisk_id,
                        len(recordings) - len(present),
                    )
                # In its own savepoint: one that cannot be stored leaves the others in
                # this sweep's commit.
                with session.begin_nested():
                    report, created = store_report(
                        session,
                        self.data_dir,
                        now=pending.reported_at,
                        call_id=pending.call_id,
                        caller_id=pending.caller_id,
                        language=pending.language,
                        hints=pending.hints,
                        recordings=present,
                        fmt=pending.fmt,
                        partial=pending.partial,
                    )
            except Exception as exc:  # one file's edge: it must not hold up the others
                self.failures.failed(path.name, exc)
                continue
            self.failures.succeeded(path.name)
            if not created:
                # Stored by an earlier, committed sweep (or by the engine, whose answer
                # was lost): the spool file has done its work.
                path.unlink(missing_ok=True)
                continue
            count += 1
            self.stored += 1
            logger.info(
                "pending report %s stored: case %s, %.1f s%s (reported %s)",
                pending.asterisk_id,
                report.case_id,
                report.duration_s,
                " (incomplete)" if pending.partial else "",
                pending.reported_at.isoformat(timespec="seconds"),
            )
        return count


@dataclass(frozen=True)
class _Take:
    path: Path
    number: int
    fmt: str
    written: datetime


class OrphanTakes:
    """The scheduler's task that stores takes a killed server left (see the module)."""

    def __init__(self, settings: Settings) -> None:
        self.data_dir = settings.data_dir
        self.folder = settings.data_dir / RECORDINGS_DIR
        self.spool = settings.data_dir / SPOOL_DIR
        self.stored = 0
        self.failures = Failures(logger, "orphaned take of call %s")
        # Takes found stored by an earlier sweep: a Recording row, once there, stays
        # (retention keeps it, marked purged), so they are not asked about again.
        self._stored_before: set[str] = set()

    def task(self, interval_s: float = 60.0) -> PeriodicTask:
        return PeriodicTask("hotline.orphan_takes", interval_s, self.run)

    def run(self, session: Session, now: datetime) -> int:
        """Store the orphaned takes; returns how many reports were made of them."""
        relative = {
            name: take
            for take in self._candidates(now)
            if (name := stored_path(take.path, self.data_dir)) not in self._stored_before
        }
        if not relative:
            return 0
        known = stored_paths(session, list(relative))
        self._stored_before |= known
        for name in known:
            # Stored (and committed, or it would not show): its hints are in the case.
            hints_path(self.data_dir / name).unlink(missing_ok=True)
        spooled = self._spooled()
        by_call: dict[str, list[_Take]] = defaultdict(list)
        for name, take in relative.items():
            if name not in known and name not in spooled:
                by_call[_TAKE.fullmatch(take.path.name)["call"]].append(take)  # type: ignore[index]
        count = 0
        for uniqueid, orphans in sorted(by_call.items()):
            try:
                with session.begin_nested():
                    count += self._store(session, uniqueid, orphans, now)
            except Exception as exc:  # one call's edge: it must not hold up the others
                self.failures.failed(uniqueid, exc)
            else:
                self.failures.succeeded(uniqueid)
        return count

    def _candidates(self, now: datetime) -> list[_Take]:
        """Takes old enough to be orphans if their call has ended (TAKE_SETTLE)."""
        if not self.folder.is_dir():
            return []
        found = []
        for path in self.folder.glob("*/*/*"):
            match = _TAKE.fullmatch(path.name)
            hints_of = path.name.endswith(HINTS_SUFFIX)
            if match is None and not hints_of:
                continue
            try:
                written = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            except FileNotFoundError:
                continue
            if hints_of or match is None:
                # Hints whose take Asterisk never wrote: nothing will carry them.
                take = path.with_name(path.name.removesuffix(HINTS_SUFFIX))
                if now - written >= TAKE_SETTLE and not take.exists():
                    path.unlink(missing_ok=True)
                continue
            if now - written >= TAKE_SETTLE:
                found.append(_Take(path, int(match["take"]), match["fmt"], written))
        return found

    def _spooled(self) -> set[str]:
        """Takes named by a spooled report: the pending-report task stores those."""
        named: set[str] = set()
        for path in self.spool.glob("*.json") if self.spool.is_dir() else ():
            try:
                named.update(PendingReport.from_json(path.read_bytes()).recordings)
            except (OSError, UnreadableSpoolFile):
                continue
        return named

    def _store(self, session: Session, uniqueid: str, orphans: list[_Take], now: datetime) -> int:
        call = session.scalar(select(Call).where(Call.asterisk_uniqueid == uniqueid))
        if call is None:
            return 0  # not a call of this database (the file was copied in): left alone
        if call.ended_at is None and any(now - t.written < TAKE_ORPHAN_AFTER for t in orphans):
            return 0  # the call may still be sending its report
        stored_numbers = [
            int(m["take"])
            for path in session.scalars(select(Recording.path).where(Recording.call_id == call.id))
            if (m := _TAKE.fullmatch(Path(path).name)) is not None
        ]
        latest = max(stored_numbers, default=0)
        keep = []
        for take in sorted(orphans, key=lambda t: t.number):
            superseded = take.number < latest
            if superseded or not has_audio(take.path, take.fmt):
                # Recorded again and the later take stored, or no audio at all: the engine
                # would have deleted it once the report was stored.
                take.path.unlink(missing_ok=True)
                hints_path(take.path).unlink(missing_ok=True)
            else:
                keep.append(take)
        if not keep:
            return 0
        report, created = store_report(
            session,
            self.data_dir,
            now=keep[-1].written,
            call_id=call.id,
            caller_id=call.caller_id,
            language=call.language,
            hints=read_hints(keep[-1].path),
            recordings=[t.path for t in keep],
            fmt=keep[-1].fmt,
            partial=True,
        )
        if not created:
            return 0
        self.stored += 1
        logger.warning(
            "call %s: %s take(s) its server never reported stored as case %s (incomplete)",
            uniqueid,
            len(keep),
            report.case_id,
        )
        return 1


def relative_recordings(data_dir: Path, recordings: list[Path]) -> list[str]:
    return [stored_path(p, data_dir) for p in recordings]
