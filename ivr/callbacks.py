"""The callback dialer: calls back the numbers that left a missed call.

A scheduler task: each tick it takes the due requests (a few at a time, so a burst of
missed calls cannot flood the trunk), skips quiet hours, and originates a call through
AMI into the ``desbumi-callback`` context, which runs the menu. The menu marks the
request answered when the callee reaches it; an attempt that nobody answers is tried
again after ``retry_after_s``, up to ``max_attempts``, then the request fails and case
workers see it in the callback queue.

Asterisk reports each attempt's end as an ``OriginateResponse`` event (matched by the
ActionID ``desbumi-callback-<request>-<attempt>``). A failed attempt (no answer, busy,
congestion, a number that cannot be dialled) is written on the request at the next tick,
so case workers see why, and the last allowed attempt fails the request at once rather
than ``retry_after_s`` later. Without the event (AMI lost meanwhile) the timer alone
decides, as before.
"""

from __future__ import annotations

import logging
import queue
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import in_daily_window, local_time, parse_daily_window
from core.models import CallbackRequest, Caller
from core.periodic import PeriodicTask
from core.security import DecryptionFailed, PhoneVault
from core.settings import CallbackSettings
from core.states import CallbackSource, CallbackState
from ivr.ami import AmiConnection, AmiEvent
from ivr.errors import AmiActionFailed, AmiUnavailable

logger = logging.getLogger(__name__)

CALLBACK_CONTEXT = "desbumi-callback"
_ACTION_ID = re.compile(r"desbumi-callback-(\d+)-(\d+)")
# OriginateResponse's Reason: the last control frame Asterisk saw on the outgoing channel.
REASONS = {
    "0": "could not be dialled",
    "1": "hung up",
    "3": "no answer",
    "5": "busy",
    "8": "network busy",
}


@dataclass(frozen=True)
class AttemptEnded:
    request_id: int
    attempt: int
    answered: bool
    reason: str


def quiet_until(now: datetime, quiet_hours: str, timezone: str) -> datetime | None:
    """The end of the quiet hours if ``now`` falls inside them, else None."""
    if not quiet_hours:
        return None
    window = parse_daily_window(quiet_hours)
    local = local_time(now, timezone)
    if not in_daily_window(window, local):
        return None
    end = window[1]
    end_local = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if end_local <= local:
        end_local += timedelta(days=1)
    return end_local.astimezone(now.tzinfo)


class CallbackDialer:
    def __init__(
        self,
        settings: CallbackSettings,
        timezone: str,
        vault: PhoneVault,
        ami: AmiConnection,
    ) -> None:
        self.settings = settings
        self.timezone = timezone
        self.vault = vault
        self.ami = ami
        self.originated = 0
        # Attempts' ends from the AMI reader thread, applied by the scheduler's thread.
        self._ended: queue.SimpleQueue[AttemptEnded] = queue.SimpleQueue()
        ami.subscribe(self._on_event)

    def _on_event(self, event: AmiEvent) -> None:
        if event.name != "OriginateResponse":
            return
        match = _ACTION_ID.fullmatch(event.fields.get("ActionID", ""))
        if match is None:
            return
        reason = event.fields.get("Reason", "")
        self._ended.put(
            AttemptEnded(
                int(match[1]),
                int(match[2]),
                event.fields.get("Response") == "Success",
                REASONS.get(reason, f"failed (reason {reason or '?'})"),
            )
        )

    def _apply_ended(self, session: Session, now: datetime) -> None:
        while True:
            try:
                ended = self._ended.get_nowait()
            except queue.Empty:
                return
            request = session.get(CallbackRequest, ended.request_id)
            if (
                ended.answered
                or request is None
                or request.state is not CallbackState.dialing
                or request.attempts != ended.attempt
            ):
                continue  # answered (the menu says so), or news of an older attempt
            if request.attempts >= self.settings.max_attempts:
                _give_up(request, ended.reason, now)
            else:
                request.last_error = f"attempt {ended.attempt}: {ended.reason}"
                request.updated_at = now
                logger.info(
                    "callback %s: attempt %s ended: %s", request.id, ended.attempt, ended.reason
                )

    def task(self, interval_s: float = 5.0) -> PeriodicTask:
        return PeriodicTask("hotline.callbacks", interval_s, self.run)

    def run(self, session: Session, now: datetime) -> int:
        """Originate the due callbacks; returns how many calls were started."""
        self._apply_ended(session, now)
        due = session.scalars(
            select(CallbackRequest)
            .where(
                CallbackRequest.source == CallbackSource.missed_call,
                CallbackRequest.state.in_([CallbackState.pending, CallbackState.dialing]),
                CallbackRequest.due_at <= now,
            )
            .order_by(CallbackRequest.due_at, CallbackRequest.id)
            .limit(self.settings.batch)
        ).all()
        started = 0
        for request in due:
            if request.attempts >= self.settings.max_attempts:
                _give_up(request, "no answer", now)
                continue
            quiet_end = quiet_until(now, self.settings.quiet_hours, self.timezone)
            if quiet_end is not None:
                request.due_at = quiet_end
                request.updated_at = now
                continue
            caller = session.get(Caller, request.caller_id)
            try:
                number = self.vault.decrypt(caller.phone_encrypted) if caller else ""
            except DecryptionFailed:
                number = ""
            if not number:
                request.move_to(CallbackState.dialing, now)
                request.move_to(CallbackState.failed, now)
                request.last_error = "the number does not decrypt with this secret key"
                continue
            try:
                self.ami.originate(
                    self.settings.dial.format(number=number),
                    context=CALLBACK_CONTEXT,
                    caller_id=self.settings.caller_id or None,
                    variables={"DESBUMI_CALLBACK": str(request.id)},
                    timeout_ms=self.settings.ring_s * 1000,
                    action_id=f"desbumi-callback-{request.id}-{request.attempts + 1}",
                )
            except (AmiUnavailable, AmiActionFailed) as exc:
                # Asterisk is away: not an attempt; the next tick tries again.
                request.last_error = f"AMI: {exc}"
                request.updated_at = now
                logger.warning("callback %s not started: %s", request.id, exc)
                break
            request.move_to(CallbackState.dialing, now)
            request.attempts += 1
            request.due_at = now + timedelta(seconds=self.settings.retry_after_s)
            request.last_error = None
            started += 1
            self.originated += 1
            logger.info("callback %s: attempt %s started", request.id, request.attempts)
        return started


# What a given-up request's last_error says after its reason; failure_reason() reads it back.
_GAVE_UP_AFTER = " after "


def failure_reason(last_error: str | None) -> str | None:
    """Why a failed request's last attempt ended (one of ``REASONS``), from its last_error."""
    reason = (last_error or "").partition(_GAVE_UP_AFTER)[0]
    return reason if reason in REASONS.values() else None


def _give_up(request: CallbackRequest, reason: str, now: datetime) -> None:
    """Its last attempt ended unanswered: case workers see it in the callback queue."""
    request.move_to(CallbackState.failed, now)
    request.last_error = f"{reason}{_GAVE_UP_AFTER}{request.attempts} attempts"
    logger.info("callback %s failed: %s", request.id, reason)
