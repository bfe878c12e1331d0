"""The menu engine: runs one call through the menu graph over FastAGI.

Keys on every menu: ``*`` back, ``0`` repeat, ``#`` skip the prompt; the quick-exit key
(9 by default) leaves at once from menus, hints and playback with a harmless message.
No call ends in silence: a prompt that cannot be played is logged and counted, and the
caller hears the next thing (or an apology); the database is reached through the store's
helper process, so one slow write never holds up another call. What she hears and presses
goes through ivr/dialogue.py; reporting a problem is ivr/reporting.py.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from core.clock import Clock, in_daily_window, local_time, parse_daily_window
from core.settings import Settings
from core.states import CallbackSource, CallDirection, CallOutcome
from ivr.dialogue import (
    Back,
    CallState,
    Dialogue,
    EngineStats,
    Observer,
    QuickExit,
    previous_menu,
)
from ivr.errors import AgiProtocolError, CallHungUp
from ivr.fastagi import AgiChannel
from ivr.menu import (
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
from ivr.prompts import PromptLibrary, PromptMissing
from ivr.reporting import ReportFlow
from ivr.store import ContentRef, HotlineStore

logger = logging.getLogger(__name__)

CALLBACK_TIMES = {"1": "morning", "2": "midday", "3": "afternoon", "4": "any"}


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
        self.stats = EngineStats()
        self.dialogue = Dialogue(menu, prompts, self.stats, observer)
        self.reporting = ReportFlow(self.dialogue, store, settings, clock)

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
            language=record.preferred_language or self.dialogue.default_language(),
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
            self.dialogue.emit(state, "hangup", "caller")
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

    async def _run_node(self, state: CallState, name: str) -> str | None:
        node = self.menu.nodes[name]
        match node:
            case LanguageNode():
                return await self._language(state, node)
            case MenuNode():
                return await self._menu(state, name, node)
            case PlayNode():
                await self.dialogue.play_keys(state, [node.prompt] if node.prompt else [], "#")
                return node.next
            case ContentNode():
                return await self._content(state, node)
            case RecordNode():
                return await self.reporting.run(state, node)
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
                    await self.dialogue.play_keys(state, [node.prompt], "")
                return None
        raise AssertionError(f"unhandled node type {type(node).__name__}")  # pragma: no cover

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
            digit = await self.dialogue.ask(
                state, prompts, "".join(offered), self._timeout(node), 1
            )
        except Back:
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
            digit = await self.dialogue.ask(
                state,
                prompts,
                "".join(node.options),
                self._timeout(node),
                node.retries,
                invalid_prompt=node.invalid_prompt,
            )
        except Back:
            return previous_menu(state, name, name)
        if not digit:
            logger.info("call_id=%s no valid key at %s; fallback", state.call_id, name)
            return node.fallback
        state.path[-1].append(digit)
        return node.options[digit]

    async def _content(self, state: CallState, node: ContentNode) -> str:
        items = await self.store.run(self.store.approved_content, node.topic, state.language)
        if not items and state.language != "id":
            items = await self.store.run(self.store.approved_content, node.topic, "id")
        if not items:
            self.stats.no_content += 1
            logger.warning("call_id=%s no approved content for topic %s", state.call_id, node.topic)
            await self.dialogue.play_keys(state, ["no-content"], "#")
            return node.next
        if state.outcome is CallOutcome.hung_up:
            state.outcome = CallOutcome.listened
        try:
            await self._play_items(state, items)
        except Back:
            return previous_menu(state, None, node.next)
        return node.next

    async def _play_items(self, state: CallState, items: list[ContentRef]) -> None:
        escape = self.dialogue.with_quick_exit("*0#")
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
            digit = self.dialogue.check_quick_exit(
                await self.dialogue.stream(
                    state, f"content:{item.slug}:v{item.version}", path, escape
                )
            )
            if digit == "*":
                raise Back
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
                await self.dialogue.play_keys(state, [node.prompt], "#")
            await self._play_items(state, announcements)
            if segment is not None:
                await self.dialogue.play_keys(state, ["latest-intro"], "#")
                path = self.prompts.asterisk_path(self.settings.data_dir / segment)
                digit = await self.dialogue.stream(
                    state, "segment", path, self.dialogue.with_quick_exit("*#")
                )
                if self.dialogue.check_quick_exit(digit) == "*":
                    raise Back
            elif not announcements:
                await self.dialogue.play_keys(state, ["latest-none"], "#")
        except Back:
            pass
        return node.next

    async def _callback(self, state: CallState, node: CallbackNode) -> str:
        if state.record.caller_id is None:
            await self.dialogue.play_keys(state, ["callback-no-number"], "#")
            return node.next
        prompts = [node.prompt] if node.prompt else []
        try:
            digit = await self.dialogue.ask(
                state, prompts, "".join(CALLBACK_TIMES), self.settings.hotline.digit_timeout_s, 2
            )
        except Back:
            return previous_menu(state, None, node.next)
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
        await self.dialogue.play_keys(state, ["callback-thanks"], "#")
        return node.next

    async def _transfer(self, state: CallState, node: TransferNode) -> str | None:
        now = local_time(self.clock.now(), self.settings.timezone)
        if not in_daily_window(parse_daily_window(node.office_hours), now):
            return node.after_hours
        await self.dialogue.play_keys(state, ["transfer-connecting"], "")
        self.dialogue.emit(state, "dial", node.dial)
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
        await self.dialogue.play_keys(state, ["transfer-unavailable"], "#")
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

    # --- endings ------------------------------------------------------------------------

    async def _quick_exit(self, state: CallState) -> None:
        self.stats.quick_exits += 1
        state.outcome = CallOutcome.quick_exit
        self.dialogue.emit(state, "quick_exit", "")
        exit_node = next(
            (n for n in self.menu.nodes.values() if isinstance(n, QuickExitNode)), None
        )
        key = exit_node.prompt if exit_node and exit_node.prompt else "quick-exit"
        try:
            await self.dialogue.stream(state, key, await self.dialogue.resolve(state, key), "")
        finally:
            await self._hangup(state)

    async def _hangup(self, state: CallState) -> None:
        self.dialogue.emit(state, "hangup", "menu")
        await state.channel.hangup()


def caller_number(env: dict[str, Any]) -> str | None:
    number = str(env.get("callerid", "")).strip()
    return number if number and number.lower() not in ("unknown", "anonymous") else None
