"""The menu engine: runs one call through the menu graph over FastAGI.

Keys on every menu: ``*`` back, ``0`` repeat, ``#`` skip the prompt; the quick-exit key
(9 by default) leaves at once from menus, hints and playback with a harmless message.
No call ends in silence: a prompt that cannot be played is logged and counted, and the
caller hears the next thing (or an apology); the database is reached on a thread, so one
slow write never holds up another call.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from core.clock import Clock, in_daily_window, local_time, parse_daily_window
from core.recordings import has_audio
from core.settings import Settings
from core.states import CallbackSource, CallDirection, CallOutcome
from ivr.errors import AgiProtocolError, CallHungUp, PromptUnavailable
from ivr.fastagi import AgiChannel, RecordEnd
from ivr.menu import (
    PROBLEM_HINTS,
    CallbackNode,
    ContentNode,
    HangupNode,
    LanguageNode,
    Menu,
    MenuNode,
    PlayNode,
    QuickExitNode,
    RecordNode,
    SegmentNode,
    TransferNode,
)
from ivr.pending import (
    RECORDINGS_DIR,
    PendingReport,
    hints_path,
    keep_hints,
    relative_recordings,
    spool_report,
    take_name,
)
from ivr.prompts import PromptLibrary, PromptMissing
from ivr.store import CallRecord, ContentRef, HotlineStore

logger = logging.getLogger(__name__)

COUNTRY_HINTS = {"1": "MY", "2": "SA", "3": "HK", "4": "SG", "5": "TW", "6": "other"}
CALLBACK_TIMES = {"1": "morning", "2": "midday", "3": "afternoon", "4": "any"}
# Less than this much audio is "we did not hear you" (Asterisk counts 8 kHz samples).
MIN_RECORDING_SAMPLES = 8000 // 2
RECORD_ATTEMPTS = 3
ALL_KEYS = "0123456789*#"
REPORT_REFERENCE_REPEATS = 2

# (call id, event, detail): what the engine asked Asterisk to do, for tests and metrics.
Observer = Callable[[str, str, str], None]


@dataclass
class _Draft:
    """A report being made: the keypad hints and every recording attempt so far."""

    hints: dict[str, str] = field(default_factory=dict)
    recordings: list[Path] = field(default_factory=list)
    # Written to the database (or, when that failed, to the spool of pending reports);
    # a later hangup must not store it a second time.
    stored: bool = False
    spooled: bool = False


class QuickExit(Exception):
    """The caller pressed the quick-exit key."""


class _Back(Exception):
    """``*`` outside a menu: go back to the menu the caller came from."""


@dataclass
class CallState:
    channel: AgiChannel
    record: CallRecord
    language: str
    outcome: CallOutcome = CallOutcome.hung_up
    path: list[list[str]] = field(default_factory=list)
    menus: list[str] = field(default_factory=list)
    # Recordings made in this call so far, every report's takes together.
    takes: int = 0

    @property
    def call_id(self) -> str:
        return self.channel.call_id


@dataclass
class EngineStats:
    calls: int = 0
    invalid_keys: int = 0
    timeouts: int = 0
    missing_prompts: int = 0
    # Prompts played in the default language because hers has no such prompt.
    fallback_prompts: int = 0
    reports: int = 0
    partial_reports: int = 0
    # Reports the database refused during the call, written to the spool instead.
    spooled_reports: int = 0
    empty_recordings: int = 0
    no_content: int = 0
    quick_exits: int = 0
    errors: Counter[str] = field(default_factory=Counter)


class MenuEngine:
    def __init__(
        self,
        menu: Menu,
        prompts: PromptLibrary,
        store: HotlineStore,
        settings: Settings,
        clock: Clock,
        observer: Observer | None = None,
    ) -> None:
        self.menu = menu
        self.prompts = prompts
        self.store = store
        self.settings = settings
        self.clock = clock
        self.observer = observer
        self.stats = EngineStats()

    # --- the call -----------------------------------------------------------------------

    async def run(
        self,
        channel: AgiChannel,
        *,
        direction: CallDirection = CallDirection.inbound,
        callback_request_id: int | None = None,
    ) -> None:
        try:
            record = await self.store.run(
                self.store.start_call,
                channel.call_id,
                caller_number(channel.env),
                direction=direction,
                callback_request_id=callback_request_id,
            )
        except Exception as exc:
            # Nothing is said and nothing answered: the dialplan's fallback takes the call
            # (the apology and a voicemail that is stored once the database is back).
            self.stats.errors["call-start"] += 1
            logger.error(
                "call_id=%s the database is unavailable (%s); the dialplan's fallback "
                "takes the call",
                channel.call_id,
                type(exc).__name__,
            )
            return
        state = CallState(
            channel=channel,
            record=record,
            language=record.preferred_language or self._default_language(),
        )
        self.stats.calls += 1
        try:
            await channel.answer()
            node: str | None = self.menu.start
            while node is not None:
                state.path.append([node])
                node = await self._run_node(state, node)
            await self._hangup(state)
        except QuickExit:
            await self._quick_exit(state)
        except CallHungUp:
            self._emit(state, "hangup", "caller")
            raise
        finally:
            try:
                await self.store.run(
                    self.store.finish_call,
                    state.record.call_id,
                    state.outcome,
                    state.path,
                    state.language,
                )
            except Exception as exc:
                # The call's end and path are lost, nothing she reported is (the report
                # has its own transaction, or the spool): one line, and the call's own
                # ending (a hangup, say) goes on.
                self.stats.errors["call-end"] += 1
                logger.error(
                    "call_id=%s the call's end was not stored (%s)",
                    state.call_id,
                    type(exc).__name__,
                )
            logger.info("call_id=%s ended: %s", state.call_id, state.outcome.value)

    def _default_language(self) -> str:
        start = self.menu.nodes[self.menu.start]
        if isinstance(start, LanguageNode):
            return next(iter(start.languages.values()))
        return "id"

    async def _run_node(self, state: CallState, name: str) -> str | None:
        node = self.menu.nodes[name]
        match node:
            case LanguageNode():
                return await self._language(state, node)
            case MenuNode():
                return await self._menu(state, name, node)
            case PlayNode():
                await self._play_keys(state, [node.prompt] if node.prompt else [], "#")
                return node.next
            case ContentNode():
                return await self._content(state, node)
            case RecordNode():
                return await self._report(state, node)
            case CallbackNode():
                return await self._callback(state, node)
            case SegmentNode():
                return await self._latest(state, node)
            case TransferNode():
                return await self._transfer(state, node)
            case QuickExitNode():
                raise QuickExit
            case HangupNode():
                if node.prompt:
                    await self._play_keys(state, [node.prompt], "")
                return None
        raise AssertionError(f"unhandled node type {type(node).__name__}")  # pragma: no cover

    # --- prompts and keys ---------------------------------------------------------------

    def _emit(self, state: CallState, event: str, detail: str) -> None:
        if self.observer is not None:
            self.observer(state.channel.env.get("channel", ""), event, detail)

    def _resolve(self, state: CallState, key: str) -> str | None:
        """The prompt in her language; else in the menu's default language (a language is
        offered once its main menu is recorded, and may still lack some prompts: she hears
        those in Bahasa Indonesia rather than nothing); else None, logged and counted."""
        try:
            return self.prompts.system(key, state.language)
        except PromptMissing as exc:
            default = self._default_language()
            if state.language != default:
                try:
                    path = self.prompts.system(key, default)
                except PromptMissing:
                    pass
                else:
                    self.stats.fallback_prompts += 1
                    logger.info(
                        "call_id=%s prompt %s not in %s; played in %s",
                        state.call_id,
                        key,
                        state.language,
                        default,
                    )
                    return path
            self.stats.missing_prompts += 1
            logger.error("call_id=%s %s", state.call_id, exc)
            return None

    async def _stream(self, state: CallState, label: str, path: str | None, escape: str) -> str:
        """Play one file; a file Asterisk cannot play is logged, counted and skipped."""
        if path is None:
            return ""
        self._emit(state, "play", label)
        try:
            return await state.channel.stream_file(path, escape)
        except PromptUnavailable:
            self.stats.missing_prompts += 1
            logger.error("call_id=%s Asterisk cannot play prompt %s", state.call_id, label)
            return ""

    async def _play_keys(self, state: CallState, keys: list[str], escape: str) -> str:
        """Play system prompts in turn; a key in ``escape`` stops them and is returned."""
        escape = self._with_quick_exit(escape)
        for key in keys:
            digit = await self._stream(state, key, self._resolve(state, key), escape)
            if digit:
                return self._check_quick_exit(digit)
        return ""

    def _with_quick_exit(self, escape: str) -> str:
        """Every prompt but the quick-exit message itself gives way to the quick-exit key:
        an overheard caller must be able to end the call whatever she is hearing."""
        key = self.menu.quick_exit_key
        return escape if key in escape else escape + key

    def _check_quick_exit(self, digit: str) -> str:
        if digit == self.menu.quick_exit_key:
            raise QuickExit
        return digit

    async def _wait_key(self, state: CallState, timeout_s: float) -> str:
        self._emit(state, "listen", "")
        digit = await state.channel.wait_for_digit(int(timeout_s * 1000))
        return digit

    async def _ask(
        self,
        state: CallState,
        prompts: list[str],
        valid: str,
        timeout_s: float,
        retries: int,
        *,
        invalid_prompt: str = "invalid-choice",
    ) -> str:
        """Play ``prompts`` and return a key from ``valid``; "" after ``retries`` failures.

        ``0`` repeats, ``#`` skips to waiting, ``*`` raises _Back; other keys count as
        invalid and the prompt is played again after ``invalid_prompt``, an apology.
        """
        # Every key stops the prompt, so an invalid key is heard and answered, not lost.
        escape = ALL_KEYS
        failures = 0
        while failures < retries:
            digit = ""
            for key in prompts:
                digit = await self._stream(state, key, self._resolve(state, key), escape)
                if digit:
                    break
            if digit in ("", "#"):
                digit = await self._wait_key(state, timeout_s)
            self._check_quick_exit(digit)
            if digit and digit in valid:
                self._emit(state, "key", digit)
                return digit
            if digit == "*":
                raise _Back
            if digit == "0":
                continue
            failures += 1
            if digit == "":
                self.stats.timeouts += 1
                self._emit(state, "timeout", "")
            else:
                self.stats.invalid_keys += 1
                self._emit(state, "invalid", digit)
                logger.info("call_id=%s invalid key", state.call_id)
                await self._play_keys(state, [invalid_prompt], "")
        return ""

    # --- nodes --------------------------------------------------------------------------

    async def _language(self, state: CallState, node: LanguageNode) -> str:
        languages = self.prompts.languages_with(
            ["main-menu"], dict.fromkeys(node.languages.values())
        )
        offered = {k: v for k, v in node.languages.items() if v in languages}
        if len(offered) <= 1:
            state.language = next(iter(offered.values()), state.language)
            return node.next
        state.language = next(iter(offered.values()))
        prompts = [node.prompt] if node.prompt else []
        try:
            digit = await self._ask(state, prompts, "".join(offered), self._timeout(node), 1)
        except _Back:
            digit = ""
        if digit:
            state.language = offered[digit]
            state.path[-1].append(digit)
        return node.next

    def _timeout(self, node: MenuNode | LanguageNode) -> float:
        return node.timeout_s or self.settings.hotline.digit_timeout_s

    async def _menu(self, state: CallState, name: str, node: MenuNode) -> str:
        if not state.menus or state.menus[-1] != name:
            state.menus.append(name)
        prompts = [node.prompt] if node.prompt else []
        try:
            digit = await self._ask(
                state,
                prompts,
                "".join(node.options),
                self._timeout(node),
                node.retries,
                invalid_prompt=node.invalid_prompt,
            )
        except _Back:
            return self._previous_menu(state, name, name)
        if not digit:
            logger.info("call_id=%s no valid key at %s; fallback", state.call_id, name)
            return node.fallback
        state.path[-1].append(digit)
        return node.options[digit]

    def _previous_menu(self, state: CallState, leaving: str | None, otherwise: str) -> str:
        """The menu before ``leaving`` (or the last menu, from a non-menu node); ``otherwise``
        when there is none."""
        while state.menus and state.menus[-1] == leaving:
            state.menus.pop()
        return state.menus.pop() if state.menus else otherwise

    async def _content(self, state: CallState, node: ContentNode) -> str:
        items = await self.store.run(self.store.approved_content, node.topic, state.language)
        if not items and state.language != "id":
            items = await self.store.run(self.store.approved_content, node.topic, "id")
        if not items:
            self.stats.no_content += 1
            logger.warning("call_id=%s no approved content for topic %s", state.call_id, node.topic)
            await self._play_keys(state, ["no-content"], "#")
            return node.next
        if state.outcome is CallOutcome.hung_up:
            state.outcome = CallOutcome.listened
        try:
            await self._play_items(state, items)
        except _Back:
            return self._previous_menu(state, None, node.next)
        return node.next

    async def _play_items(self, state: CallState, items: list[ContentRef]) -> None:
        escape = self._with_quick_exit("*0#")
        index = 0
        while index < len(items):
            item = items[index]
            try:
                path = await asyncio.to_thread(
                    self.prompts.content, item.text, item.audio_base, state.language
                )
            except PromptMissing as exc:
                self.stats.missing_prompts += 1
                logger.error("call_id=%s content %s: %s", state.call_id, item.id, exc)
                index += 1
                continue
            digit = self._check_quick_exit(
                await self._stream(state, f"content:{item.slug}:v{item.version}", path, escape)
            )
            if digit == "*":
                raise _Back
            if digit == "0":
                continue
            index += 1

    async def _latest(self, state: CallState, node: SegmentNode) -> str:
        announcements = await self.store.run(self.store.announcements, state.language)
        segment = await self.store.run(self.store.latest_segment)
        if state.outcome is CallOutcome.hung_up:
            state.outcome = CallOutcome.listened
        try:
            if node.prompt:
                await self._play_keys(state, [node.prompt], "#")
            await self._play_items(state, announcements)
            if segment is not None:
                await self._play_keys(state, ["latest-intro"], "#")
                path = self.prompts.asterisk_path(self.settings.data_dir / segment)
                digit = await self._stream(state, "segment", path, self._with_quick_exit("*#"))
                if self._check_quick_exit(digit) == "*":
                    raise _Back
            elif not announcements:
                await self._play_keys(state, ["latest-none"], "#")
        except _Back:
            pass
        return node.next

    async def _callback(self, state: CallState, node: CallbackNode) -> str:
        if state.record.caller_id is None:
            await self._play_keys(state, ["callback-no-number"], "#")
            return node.next
        prompts = [node.prompt] if node.prompt else []
        try:
            digit = await self._ask(
                state, prompts, "".join(CALLBACK_TIMES), self.settings.hotline.digit_timeout_s, 2
            )
        except _Back:
            return self._previous_menu(state, None, node.next)
        await self.store.run(
            self.store.request_callback,
            number=None,
            caller_id=state.record.caller_id,
            source=CallbackSource.menu,
            settings=self.settings.callback,
            call_id=state.record.call_id,
            preferred_time=CALLBACK_TIMES.get(digit, "any"),
            language=state.language,
        )
        state.outcome = CallOutcome.callback_requested
        await self._play_keys(state, ["callback-thanks"], "#")
        return node.next

    async def _transfer(self, state: CallState, node: TransferNode) -> str | None:
        now = local_time(self.clock.now(), self.settings.timezone)
        if not in_daily_window(parse_daily_window(node.office_hours), now):
            return node.after_hours
        await self._play_keys(state, ["transfer-connecting"], "")
        self._emit(state, "dial", node.dial)
        # g: when the counsellor hangs up, Dial returns here (its status is read and the
        # call is stored as transferred) instead of hanging up the caller inside Dial.
        try:
            await state.channel.exec("Dial", f"{node.dial},{node.ring_s},g")
            status = await state.channel.get_variable("DIALSTATUS")
        except CallHungUp:
            # She hung up during the Dial (or right after the counsellor did): if the
            # counsellor had answered, they talked, and the call was a transfer.
            if await self._dial_status_after_hangup(state) == "ANSWER":
                state.outcome = CallOutcome.transferred
            raise
        if status == "ANSWER":
            state.outcome = CallOutcome.transferred
            return None
        logger.info("call_id=%s transfer not answered (%s)", state.call_id, status)
        await self._play_keys(state, ["transfer-unavailable"], "#")
        return node.after_hours

    async def _dial_status_after_hangup(self, state: CallState) -> str | None:
        """DIALSTATUS read from the hung-up channel; None when it cannot be read."""
        try:
            return await state.channel.get_variable_after_hangup("DIALSTATUS")
        except (CallHungUp, AgiProtocolError, TimeoutError) as exc:
            logger.warning(
                "call_id=%s hung up during the transfer; its status is unknown: %s",
                state.call_id,
                exc,
            )
            return None

    # --- reporting a problem ------------------------------------------------------------

    async def _report(self, state: CallState, node: RecordNode) -> str:
        timeout = self.settings.hotline.digit_timeout_s
        try:
            intro = [node.prompt] if node.prompt else []
            consent = await self._ask(state, [*intro, node.consent_prompt], "12", timeout, 3)
        except _Back:
            return self._previous_menu(state, None, node.declined)
        if consent != "1":
            # No consent, no recording: back to the menu (nothing is stored).
            self._emit(state, "consent", "declined")
            return node.declined
        self._emit(state, "consent", "given")
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
                    digit = await self._ask(state, ["hint-problem"], "123456", wait_s, 1)
                    if digit:
                        hints["problem"] = PROBLEM_HINTS[int(digit) - 1]
                elif hint == "country":
                    digit = await self._ask(state, ["hint-country"], "123456", wait_s, 1)
                    if digit:
                        hints["country"] = COUNTRY_HINTS[digit]
                else:
                    code = await self._village_code(state, wait_s)
                    if code:
                        hints["village"] = code
            except _Back:
                continue

    async def _village_code(self, state: CallState, wait_s: float) -> str:
        path = self._resolve(state, "hint-village")
        if path is None:
            return ""
        self._emit(state, "play", "hint-village")
        self._emit(state, "listen", "digits")
        digits = await state.channel.get_data(path, int(wait_s * 1000), 10)
        digits = "".join(c for c in digits if c.isdigit())
        if digits:
            self._emit(state, "key", digits)
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
            await self._play_keys(state, ["record-now"], "#")
            target = self._recording_path(state)
            draft.recordings.append(target)
            self._keep_hints(state, target, draft.hints)
            self._emit(state, "record", target.name)
            recorded = await state.channel.record_file(
                self.prompts.asterisk_path(target),
                self.settings.hotline.record_format,
                escape_digits="#" + self.menu.quick_exit_key,
                max_ms=node.max_s * 1000,
                silence_s=node.silence_s,
            )
            self._emit(state, "recorded", f"{recorded.end.value}:{recorded.endpos}")
            if recorded.end is RecordEnd.hangup:
                raise CallHungUp("hung up while recording")
            if recorded.end is RecordEnd.dtmf and recorded.digit == self.menu.quick_exit_key:
                raise QuickExit
            heard = recorded.endpos >= MIN_RECORDING_SAMPLES and self._has_audio(target)
            if recorded.end is RecordEnd.error or not heard:
                if recorded.end is RecordEnd.error:
                    self.stats.errors["record"] += 1
                    logger.error("call_id=%s Asterisk could not write the recording", state.call_id)
                else:
                    self.stats.empty_recordings += 1
                    logger.info("call_id=%s empty recording (attempt %s)", state.call_id, attempt)
                if attempt < RECORD_ATTEMPTS:
                    key = "record-failed" if recorded.end is RecordEnd.error else "record-empty"
                    await self._play_keys(state, [key], "")
                    continue
                # Still nothing: the report (hints, number) is kept all the same.
                await self._submit(state, draft, partial=True, silent=False)
                return node.next
            choice = await self._confirm(state, target, timeout)
            if choice == "2" and attempt < RECORD_ATTEMPTS + 2:
                continue
            await self._submit(state, draft, partial=False, silent=False)
            return node.next

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
                choice = await self._ask(state, ["record-confirm"], "123", wait_s, 2)
            except _Back:
                choice = "2"
            if choice == "1":
                await self._play_keys(state, ["record-playback"], "#")
                own = self.prompts.asterisk_path(target)
                self._check_quick_exit(
                    await self._stream(state, "own-recording", own, self._with_quick_exit("#"))
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
                lead_skipped = await self._play_keys(state, ["report-reference"], "#") == "#"
        finally:
            # She may hang up during the lead: the report is written all the same.
            reference = await writing
        if silent:
            return
        if reference is None:
            # Spooled: stored once the database is back, but she cannot hear its number.
            await self._play_keys(state, ["report-kept" if draft.spooled else "system-error"], "")
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
            self.stats.errors["report"] += 1
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
        self.stats.reports += 1
        if partial:
            self.stats.partial_reports += 1
        state.outcome = CallOutcome.reported
        logger.info(
            "call_id=%s report stored: case %s, %.1f s%s",
            state.call_id,
            report.case_id,
            report.duration_s,
            " (incomplete)" if partial else "",
        )
        self._emit(state, "report", report.reference)
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
        self.stats.spooled_reports += 1
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
            if repeat and await self._play_keys(state, ["report-reference-again"], "#") == "#":
                return
            for digit in reference:
                await self._play_keys(state, [f"digit-{digit}"], "")

    # --- endings ------------------------------------------------------------------------

    async def _quick_exit(self, state: CallState) -> None:
        self.stats.quick_exits += 1
        state.outcome = CallOutcome.quick_exit
        self._emit(state, "quick_exit", "")
        exit_node = next(
            (n for n in self.menu.nodes.values() if isinstance(n, QuickExitNode)), None
        )
        key = exit_node.prompt if exit_node and exit_node.prompt else "quick-exit"
        try:
            await self._stream(state, key, self._resolve(state, key), "")
        finally:
            await self._hangup(state)

    async def _hangup(self, state: CallState) -> None:
        self._emit(state, "hangup", "menu")
        await state.channel.hangup()


def caller_number(env: dict[str, Any]) -> str | None:
    number = str(env.get("callerid", "")).strip()
    return number if number and number.lower() not in ("unknown", "anonymous") else None
