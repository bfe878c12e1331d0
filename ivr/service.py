"""The hotline's FastAGI entry point: one handler, three dialplan scripts.

* ``agi://host:port/ivr``: an inbound call into the voice menu;
* ``agi://host:port/callback``: a callback the dialer originated (``DESBUMI_CALLBACK``
  holds the request id) into the same menu;
* ``agi://host:port/missed``: a missed call to the callback number. The channel is never
  answered, so the call costs the caller nothing; the request is stored and the dialplan
  rejects the call.
"""

from __future__ import annotations

import asyncio
import logging

from core.settings import Settings
from core.states import CallbackSource, CallDirection
from ivr.engine import MenuEngine, caller_number
from ivr.errors import PromptUnavailable
from ivr.fastagi import AgiChannel
from ivr.store import HotlineStore

logger = logging.getLogger(__name__)

# Asterisk core sound: "Please try your call again later." Never end a call in silence.
UNAVAILABLE_PROMPT = "please-try-call-later"


class Hotline:
    def __init__(self, engine: MenuEngine, store: HotlineStore, settings: Settings) -> None:
        self.engine = engine
        self.store = store
        self.settings = settings

    async def __call__(self, channel: AgiChannel) -> None:
        script = channel.env.get("network_script", "").strip("/").split("?")[0]
        if script == "missed":
            await self.missed_call(channel)
        elif script == "callback":
            value = await channel.get_variable("DESBUMI_CALLBACK")
            request_id = int(value) if value and value.isdigit() else None
            await self.engine.run(
                channel, direction=CallDirection.callback, callback_request_id=request_id
            )
        elif script in ("ivr", ""):
            await self.engine.run(channel)
        else:
            logger.warning("call_id=%s unknown AGI script %r", channel.call_id, script[:40])
            await unavailable(channel)

    def close(self) -> None:
        """Stop the store's helper process (after the FastAGI server has stopped) and log
        what this process counted, bad input included."""
        logger.info("hotline, since the start: %s", self.engine.stats.describe())
        self.store.close()

    async def log_counts(self, interval_s: float) -> None:
        """Every ``interval_s`` seconds, one log line of what the hotline counted in that
        time, bad input included (an interval in which nothing was counted logs nothing).
        Runs until cancelled."""
        last = self.engine.stats.snapshot()
        while True:
            await asyncio.sleep(interval_s)
            now = self.engine.stats.snapshot()
            counted = now.since(last)
            last = now
            if not counted.quiet:
                logger.info("hotline, the last %g s: %s", interval_s, counted.describe())

    async def missed_call(self, channel: AgiChannel) -> None:
        """Store a callback request without answering; the dialplan then rejects the call."""
        self.engine.stats.missed_calls += 1
        try:
            decision = await self.store.run(
                self.store.request_callback,
                number=caller_number(channel.env),
                caller_id=None,
                source=CallbackSource.missed_call,
                settings=self.settings.callback,
            )
        except Exception as exc:
            # DESBUMI_MISSED stays empty: the dialplan notes the number for the sweep
            # (``<uniqueid>.missed``) and still rejects the call unanswered.
            self.engine.stats.errors["missed-call"] += 1
            logger.error(
                "call_id=%s missed call not stored (%s); the dialplan notes it for later",
                channel.call_id,
                type(exc).__name__,
            )
            return
        if decision is None:
            outcome = "withheld"
        else:
            outcome = "queued" if decision.created else "merged"
        logger.info("call_id=%s missed call: %s", channel.call_id, outcome)
        await channel.set_variable("DESBUMI_MISSED", outcome)


async def unavailable(channel: AgiChannel) -> None:
    """Answer, apologise, hang up: for a script this server does not know."""
    await channel.answer()
    try:
        await channel.stream_file(UNAVAILABLE_PROMPT)
    except PromptUnavailable:
        logger.warning("call_id=%s system prompt %s missing", channel.call_id, UNAVAILABLE_PROMPT)
    await channel.hangup()
