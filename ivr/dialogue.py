"""The caller's side of a call: prompts played in her language, keys read and answered.

Every node of the menu speaks through a :class:`Dialogue`: it resolves a prompt in her
language (else the default one, else logs and counts it), plays it with the quick-exit key
among the escape digits, and reads keys with ``0`` repeat, ``#`` skip and ``*`` back. A
prompt that cannot be played is skipped, logged and counted: the caller hears the next
thing, never silence.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace

from core.states import CallOutcome
from ivr.errors import PromptUnavailable
from ivr.fastagi import AgiChannel
from ivr.menu import LanguageNode, Menu
from ivr.prompts import PromptLibrary, PromptMissing
from ivr.store import CallRecord

logger = logging.getLogger(__name__)

ALL_KEYS = "0123456789*#"

# (channel, event, detail): what the engine asked Asterisk to do, for tests and metrics.
Observer = Callable[[str, str, str], None]


class QuickExit(Exception):
    """The caller pressed the quick-exit key."""


class Back(Exception):
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
    """What the hotline counted in this process, bad input included."""

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
    missed_calls: int = 0
    errors: Counter[str] = field(default_factory=Counter)

    def snapshot(self) -> EngineStats:
        return replace(self, errors=Counter(self.errors))

    def since(self, earlier: EngineStats) -> EngineStats:
        """What was counted after ``earlier``, a snapshot of these statistics."""
        counted = {
            f.name: getattr(self, f.name) - getattr(earlier, f.name)
            for f in fields(self)
            if f.name != "errors"
        }
        return EngineStats(**counted, errors=self.errors - earlier.errors)

    @property
    def quiet(self) -> bool:
        """Nothing was counted (a call that began earlier may still count bad input)."""
        # Counters compare missing and zero counts as equal.
        return self == EngineStats()

    def describe(self) -> str:
        """One line for the log: counts only, never a number or a word she said."""
        errors = ", ".join(f"{k} {v}" for k, v in sorted(self.errors.items()) if v)
        return (
            f"{self.calls} calls, {self.reports} reports ({self.partial_reports} incomplete, "
            f"{self.spooled_reports} spooled), {self.missed_calls} missed calls, "
            f"{self.quick_exits} quick exits; bad input: {self.invalid_keys} invalid keys, "
            f"{self.timeouts} timeouts, {self.empty_recordings} empty recordings, "
            f"{self.missing_prompts} prompts not playable, {self.fallback_prompts} prompts "
            f"in the default language, {self.no_content} topics without content; "
            f"errors: {errors or 'none'}"
        )


class Dialogue:
    """Prompts and keys for every call of one menu; counts what went wrong in ``stats``."""

    def __init__(
        self,
        menu: Menu,
        prompts: PromptLibrary,
        stats: EngineStats,
        observer: Observer | None = None,
    ) -> None:
        self.menu = menu
        self.prompts = prompts
        self.stats = stats
        self.observer = observer

    @property
    def quick_exit_key(self) -> str:
        return self.menu.quick_exit_key

    def default_language(self) -> str:
        start = self.menu.nodes[self.menu.start]
        if isinstance(start, LanguageNode):
            return next(iter(start.languages.values()))
        return "id"

    def emit(self, state: CallState, event: str, detail: str) -> None:
        if self.observer is not None:
            self.observer(state.channel.env.get("channel", ""), event, detail)

    async def resolve(self, state: CallState, key: str) -> str | None:
        """The prompt in her language; else in the menu's default language (a language is
        offered once its main menu is recorded, and may still lack some prompts: she hears
        those in Bahasa Indonesia rather than nothing); else None, logged and counted."""
        try:
            return await self._system(key, state.language)
        except PromptMissing as exc:
            default = self.default_language()
            if state.language != default:
                try:
                    path = await self._system(key, default)
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

    async def _system(self, key: str, language: str) -> str:
        """A prompt resolved before is looked up; one that is not (a call in the first
        seconds after a start, while the warm-up still synthesises) is resolved on a
        thread, so that only this call waits for it, not every call of the server."""
        path = self.prompts.resolved(key, language)
        if path is not None:
            return path
        return await asyncio.to_thread(self.prompts.system, key, language)

    async def stream(self, state: CallState, label: str, path: str | None, escape: str) -> str:
        """Play one file; a file Asterisk cannot play is logged, counted and skipped."""
        if path is None:
            return ""
        self.emit(state, "play", label)
        try:
            return await state.channel.stream_file(path, escape)
        except PromptUnavailable:
            self.stats.missing_prompts += 1
            logger.error("call_id=%s Asterisk cannot play prompt %s", state.call_id, label)
            return ""

    async def play_keys(self, state: CallState, keys: list[str], escape: str) -> str:
        """Play system prompts in turn; a key in ``escape`` stops them and is returned."""
        escape = self.with_quick_exit(escape)
        for key in keys:
            digit = await self.stream(state, key, await self.resolve(state, key), escape)
            if digit:
                return self.check_quick_exit(digit)
        return ""

    def with_quick_exit(self, escape: str) -> str:
        """Every prompt but the quick-exit message itself gives way to the quick-exit key:
        an overheard caller must be able to end the call whatever she is hearing."""
        key = self.quick_exit_key
        return escape if key in escape else escape + key

    def check_quick_exit(self, digit: str) -> str:
        if digit == self.quick_exit_key:
            raise QuickExit
        return digit

    async def wait_key(self, state: CallState, timeout_s: float) -> str:
        self.emit(state, "listen", "")
        return await state.channel.wait_for_digit(int(timeout_s * 1000))

    async def ask(
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

        ``0`` repeats, ``#`` skips to waiting, ``*`` raises Back; other keys count as
        invalid and the prompt is played again after ``invalid_prompt``, an apology.
        """
        # Every key stops the prompt, so an invalid key is heard and answered, not lost.
        escape = ALL_KEYS
        failures = 0
        while failures < retries:
            digit = ""
            for key in prompts:
                digit = await self.stream(state, key, await self.resolve(state, key), escape)
                if digit:
                    break
            if digit in ("", "#"):
                digit = await self.wait_key(state, timeout_s)
            self.check_quick_exit(digit)
            if digit and digit in valid:
                self.emit(state, "key", digit)
                return digit
            if digit == "*":
                raise Back
            if digit == "0":
                continue
            failures += 1
            if digit == "":
                self.stats.timeouts += 1
                self.emit(state, "timeout", "")
            else:
                self.stats.invalid_keys += 1
                self.emit(state, "invalid", digit)
                logger.info("call_id=%s invalid key", state.call_id)
                await self.play_keys(state, [invalid_prompt], "")
        return ""


def previous_menu(state: CallState, leaving: str | None, otherwise: str) -> str:
    """The menu before ``leaving`` (or the last menu, from a non-menu node); ``otherwise``
    when there is none."""
    while state.menus and state.menus[-1] == leaving:
        state.menus.pop()
    return state.menus.pop() if state.menus else otherwise
