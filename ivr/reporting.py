"""Reporting a problem: consent, keypad hints, the recording, and the report stored.

The caller agrees to be recorded (or nothing is), may give hints by keypad, records after
the beep, listens, records again or sends. Nothing she recorded is lost: a hangup, the
quick-exit key or a broken AGI connection stores what there is as an incomplete report; a
database that refuses sends it to the spool (ivr/pending.py); a server killed mid-take
leaves the take and its hints for the orphan sweep.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from core.clock import Clock
from core.recordings import has_audio
from core.settings import Settings
from core.states import CallOutcome
from ivr.dialogue import Back, CallState, Dialogue, QuickExit, previous_menu
from ivr.errors import AgiProtocolError, CallHungUp
from ivr.fastagi import RecordEnd
from ivr.menu import PROBLEM_HINTS, RecordNode
from ivr.pending import (
    RECORDINGS_DIR,
    PendingReport,
    hints_path,
    keep_hints,
    relative_recordings,
    spool_report,
    take_name,
)
from ivr.store import HotlineStore

logger = logging.getLogger(__name__)

COUNTRY_HINTS = {"1": "MY", "2": "SA", "3": "HK", "4": "SG", "5": "TW", "6": "other"}
# Less than this much audio is "we did not hear you" (Asterisk counts 8 kHz samples).
MIN_RECORDING_SAMPLES = 8000 // 2
RECORD_ATTEMPTS = 3
REPORT_REFERENCE_REPEATS = 2


@dataclass
class _Draft:
    """A report being made: the keypad hints and every recording attempt so far."""

    hints: dict[str, str] = field(default_factory=dict)
    recordings: list[Path] = field(default_factory=list)
    # Written to the database (or, when that failed, to the spool of pending reports);
    # a later hangup must not store it a second time.
    stored: bool = False
    spooled: bool = False


class ReportFlow:
    """A ``record`` node of the menu, for every call."""

    def __init__(
        self, dialogue: Dialogue, store: HotlineStore, settings: Settings, clock: Clock
    ) -> None:
        self.dialogue = dialogue
        self.store = store
        self.settings = settings
        self.clock = clock

    async def run(self, state: CallState, node: RecordNode) -> str:
        """Consent, hints, the recording and its confirmation, then the report stored
        (or spooled) and its reference read out; returns the next node."""
        timeout = self.settings.hotline.digit_timeout_s
        try:
            intro = [node.prompt] if node.prompt else []
            consent = await self.dialogue.ask(
                state, [*intro, node.consent_prompt], "12", timeout, 3
            )
        except Back:
            return previous_menu(state, None, node.declined)
        if consent != "1":
            # No consent, no recording: back to the menu (nothing is stored).
            self.dialogue.emit(state, "consent", "declined")
            return node.declined
        self.dialogue.emit(state, "consent", "given")
        draft = _Draft()
        try:
            await self._hints(state, node, draft.hints, timeout)
            return await self._record_and_confirm(state, node, draft)
        except CallHungUp:
            # The caller is gone: whatever was recorded is kept and reported (incomplete).
            await self._submit(state, draft, partial=True, silent=True)
            raise
        except QuickExit:
            # Overheard: store what she said, and say nothing more about it.
            await self._submit(state, draft, partial=True, silent=True)
            raise
        except (AgiProtocolError, TimeoutError, asyncio.CancelledError):
            # The AGI connection broke (garbage, no answer) or the server is stopping:
            # nothing more can be said to her, but nothing she recorded is lost.
            await self._submit(state, draft, partial=True, silent=True)
            raise

    async def _hints(
        self, state: CallState, node: RecordNode, hints: dict[str, str], wait_s: float
    ) -> None:
        for hint in node.hints:
            try:
                if hint == "problem":
                    digit = await self.dialogue.ask(state, ["hint-problem"], "123456", wait_s, 1)
                    if digit:
                        hints["problem"] = PROBLEM_HINTS[int(digit) - 1]
                elif hint == "country":
                    digit = await self.dialogue.ask(state, ["hint-country"], "123456", wait_s, 1)
                    if digit:
                        hints["country"] = COUNTRY_HINTS[digit]
                else:
                    code = await self._village_code(state, wait_s)
                    if code:
                        hints["village"] = code
            except Back:
                continue

    async def _village_code(self, state: CallState, wait_s: float) -> str:
        path = await self.dialogue.resolve(state, "hint-village")
        if path is None:
            return ""
        self.dialogue.emit(state, "play", "hint-village")
        self.dialogue.emit(state, "listen", "digits")
        digits = await state.channel.get_data(path, int(wait_s * 1000), 10)
        digits = "".join(c for c in digits if c.isdigit())
        if digits:
            self.dialogue.emit(state, "key", digits)
        return digits

    def _recording_path(self, state: CallState) -> Path:
        """A new file for the next take: numbered through the whole call (a second report
        in the same call must not overwrite the first's audio), and never an existing file
        (the same channel may come back to the menu)."""
        now = self.clock.now()
        folder = self.settings.data_dir.resolve() / RECORDINGS_DIR / f"{now:%Y}" / f"{now:%m}"
        folder.mkdir(parents=True, exist_ok=True)
        while True:
            state.takes += 1
            target = folder / take_name(
                state.call_id, state.takes, self.settings.hotline.record_format
            )
            if not target.exists():
                return target

    async def _record_and_confirm(self, state: CallState, node: RecordNode, draft: _Draft) -> str:
        timeout = self.settings.hotline.digit_timeout_s
        attempt = 0
        while True:
            attempt += 1
            await self.dialogue.play_keys(state, ["record-now"], "#")
            # Folder, name and hints file: about a millisecond of file system calls with
            # Asterisk writing every caller's recording in that folder (measured at 200
            # calls), which on the event loop would hold up every other caller's key.
            target = await asyncio.to_thread(self._prepare_take, state, draft.hints)
            draft.recordings.append(target)
            self.dialogue.emit(state, "record", target.name)
            recorded = await state.channel.record_file(
                self.dialogue.prompts.asterisk_path(target),
                self.settings.hotline.record_format,
                escape_digits="#" + self.dialogue.quick_exit_key,
                max_ms=node.max_s * 1000,
                silence_s=node.silence_s,
            )
            self.dialogue.emit(state, "recorded", f"{recorded.end.value}:{recorded.endpos}")
            if recorded.end is RecordEnd.hangup:
                raise CallHungUp("hung up while recording")
            if recorded.end is RecordEnd.dtmf and recorded.digit == self.dialogue.quick_exit_key:
                raise QuickExit
            heard = recorded.endpos >= MIN_RECORDING_SAMPLES and self._has_audio(target)
            if recorded.end is RecordEnd.error or not heard:
                if recorded.end is RecordEnd.error:
                    self.dialogue.stats.errors["record"] += 1
                    logger.error("call_id=%s Asterisk could not write the recording", state.call_id)
                else:
                    self.dialogue.stats.empty_recordings += 1
                    logger.info("call_id=%s empty recording (attempt %s)", state.call_id, attempt)
                if attempt < RECORD_ATTEMPTS:
                    key = "record-failed" if recorded.end is RecordEnd.error else "record-empty"
                    await self.dialogue.play_keys(state, [key], "")
                    continue
                # Still nothing: the report (hints, number) is kept all the same.
                await self._submit(state, draft, partial=True, silent=False)
                return node.next
            choice = await self._confirm(state, target, timeout)
            if choice == "2" and attempt < RECORD_ATTEMPTS + 2:
                continue
            await self._submit(state, draft, partial=False, silent=False)
            return node.next

    def _prepare_take(self, state: CallState, hints: dict[str, str]) -> Path:
        target = self._recording_path(state)
        self._keep_hints(state, target, hints)
        return target

    @staticmethod
    def _keep_hints(state: CallState, take: Path, hints: dict[str, str]) -> None:
        """Her hints beside the take, for a server killed before her report is stored
        (ivr/pending.py stores the take with them). A disk that refuses loses no more
        than that: the hints are in the report as long as this server lives."""
        if not hints:
            return
        try:
            keep_hints(take, hints)
        except OSError as exc:
            logger.warning("call_id=%s hints not kept beside the take (%s)", state.call_id, exc)

    @staticmethod
    def _forget_hints(draft: _Draft) -> None:
        """Her report is stored (or spooled, with its hints): none wait beside a take."""
        for take in draft.recordings:
            hints_path(take).unlink(missing_ok=True)

    def _has_audio(self, path: Path) -> bool:
        return has_audio(path, self.settings.hotline.record_format)

    async def _confirm(self, state: CallState, target: Path, wait_s: float) -> str:
        """1 listen, 2 record again, 3 send; silence or confusion sends (nothing is lost)."""
        while True:
            try:
                choice = await self.dialogue.ask(state, ["record-confirm"], "123", wait_s, 2)
            except Back:
                choice = "2"
            if choice == "1":
                await self.dialogue.play_keys(state, ["record-playback"], "#")
                own = self.dialogue.prompts.asterisk_path(target)
                self.dialogue.check_quick_exit(
                    await self.dialogue.stream(
                        state, "own-recording", own, self.dialogue.with_quick_exit("#")
                    )
                )
                continue
            return choice or "3"

    async def _submit(
        self, state: CallState, draft: _Draft, *, partial: bool, silent: bool
    ) -> None:
        """Store the report once, then (unless ``silent``) read its reference out.

        The caller hears "your report number is" while the transaction commits, so a
        busy database never leaves her in silence; the digits follow once it is stored.
        """
        if draft.stored:
            return
        writing = asyncio.create_task(self._write_report(state, draft, partial=partial))
        lead_skipped = False
        try:
            if not silent:
                lead_skipped = (
                    await self.dialogue.play_keys(state, ["report-reference"], "#") == "#"
                )
        finally:
            # She may hang up during the lead: the report is written all the same.
            reference = await writing
        if silent:
            return
        if reference is None:
            # Spooled: stored once the database is back, but she cannot hear its number.
            await self.dialogue.play_keys(
                state, ["report-kept" if draft.spooled else "system-error"], ""
            )
        elif not lead_skipped:
            await self._say_reference(state, reference)

    async def _write_report(self, state: CallState, draft: _Draft, *, partial: bool) -> str | None:
        """The report's transaction: the last recording (and an earlier one if the last is
        cut). Returns the case reference, or None if it could not be stored."""
        files = [p for p in draft.recordings if p.is_file()]
        existing = [p for p in files if self._has_audio(p)]
        keep = existing[-1:] if existing else []
        if partial and len(existing) > 1:
            keep = existing[-2:]
        reported_at = self.clock.now()
        try:
            report = await self.store.run(
                self.store.submit_report,
                call_id=state.record.call_id,
                caller_id=state.record.caller_id,
                language=state.language,
                hints=draft.hints,
                recordings=keep,
                fmt=self.settings.hotline.record_format,
                partial=partial,
            )
        except Exception as exc:
            # The database failed her: the report goes to the spool, which the scheduler
            # stores once the database is back (ivr/pending.py).
            self.dialogue.stats.errors["report"] += 1
            logger.error(
                "call_id=%s report not stored (%s); spooling it", state.call_id, type(exc).__name__
            )
            if await self._spool(state, draft, keep, partial=partial, reported_at=reported_at):
                self._drop_superseded(files, keep)
                self._forget_hints(draft)
            return None
        draft.stored = True
        self._drop_superseded(files, keep)
        self._forget_hints(draft)
        self.dialogue.stats.reports += 1
        if partial:
            self.dialogue.stats.partial_reports += 1
        state.outcome = CallOutcome.reported
        logger.info(
            "call_id=%s report stored: case %s, %.1f s%s",
            state.call_id,
            report.case_id,
            report.duration_s,
            " (incomplete)" if partial else "",
        )
        self.dialogue.emit(state, "report", report.reference)
        return report.reference

    async def _spool(
        self,
        state: CallState,
        draft: _Draft,
        keep: list[Path],
        *,
        partial: bool,
        reported_at: datetime,
    ) -> bool:
        """The report the database refused, into the spool (ivr/pending.py); False when
        the disk failed too."""
        pending = PendingReport(
            asterisk_id=state.call_id,
            call_id=state.record.call_id,
            caller_id=state.record.caller_id,
            language=state.language,
            hints=dict(draft.hints),
            recordings=relative_recordings(self.settings.data_dir, keep),
            fmt=self.settings.hotline.record_format,
            partial=partial,
            reported_at=reported_at,
        )
        try:
            spooled = await asyncio.to_thread(spool_report, self.settings.data_dir, pending)
        except Exception:
            # Neither the database nor the disk: the recordings are all that is left.
            logger.exception(
                "call_id=%s REPORT NOT STORED and not spooled; recordings kept: %s",
                state.call_id,
                ", ".join(p.name for p in keep),
            )
            return False
        draft.stored = draft.spooled = True
        self.dialogue.stats.spooled_reports += 1
        state.outcome = CallOutcome.reported
        logger.info("call_id=%s report spooled as %s", state.call_id, spooled.name)
        return True

    @staticmethod
    def _drop_superseded(files: list[Path], keep: list[Path]) -> None:
        """The takes she recorded again: only the kept ones are part of her report."""
        for superseded in set(files) - set(keep):
            superseded.unlink(missing_ok=True)

    async def _say_reference(self, state: CallState, reference: str) -> None:
        """The digits after the lead (already played), then once more with its own lead."""
        for repeat in range(REPORT_REFERENCE_REPEATS):
            if (
                repeat
                and await self.dialogue.play_keys(state, ["report-reference-again"], "#") == "#"
            ):
                return
            for digit in reference:
                await self.dialogue.play_keys(state, [f"digit-{digit}"], "")
