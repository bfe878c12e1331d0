"""Callback requests: one per number per window, quiet hours, attempts, Asterisk away."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from core.clock import Clock
from core.db import Database
from core.models import CallbackRequest
from core.security import PhoneVault
from core.settings import Settings
from core.states import CallbackSource, CallbackState
from ivr.ami import AmiConnection
from ivr.callbacks import CallbackDialer, failure_reason, quiet_until
from ivr.store import HotlineStore
from tests.conftest import TEST_SECRET, FixedClock
from tests.ivr.conftest import AMI_SECRET, AMI_USER, HotlineSite, _free_port

NUMBER = "+62 812 3456 7890"


def _store(db: Database, settings: Settings, clock: Clock) -> HotlineStore:
    return HotlineStore(db, PhoneVault(TEST_SECRET), clock, settings.data_dir)


def test_one_callback_per_number_per_window(db: Database, settings: Settings) -> None:
    clock = FixedClock(datetime(2026, 11, 23, 3, 0, tzinfo=UTC))
    store = _store(db, settings, clock)
    rules = settings.callback
    first = store.request_callback(
        number=NUMBER, caller_id=None, source=CallbackSource.missed_call, settings=rules
    )
    # The same number written differently is the same caller.
    again = store.request_callback(
        number="+6281234567890", caller_id=None, source=CallbackSource.missed_call, settings=rules
    )
    assert first is not None and first.created
    assert again is not None and not again.created and again.request_id == first.request_id
    withheld = store.request_callback(
        number="anonymous", caller_id=None, source=CallbackSource.missed_call, settings=rules
    )
    assert withheld is None
    with db.transaction() as s:
        request = s.get(CallbackRequest, first.request_id)
        assert request is not None
        assert request.due_at == clock.moment + timedelta(seconds=rules.delay_s)
        request.move_to(CallbackState.dialing, clock.moment)
        request.move_to(CallbackState.answered, clock.moment)
    # Answered, but still inside the window: no second callback.
    clock.moment += timedelta(minutes=rules.window_min - 1)
    inside = store.request_callback(
        number=NUMBER, caller_id=None, source=CallbackSource.missed_call, settings=rules
    )
    assert inside is not None and not inside.created
    clock.moment += timedelta(minutes=2)
    after = store.request_callback(
        number=NUMBER, caller_id=None, source=CallbackSource.missed_call, settings=rules
    )
    assert after is not None and after.created


def test_quiet_hours_wrap_past_midnight() -> None:
    jakarta_23h = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)  # 23:00 WIB
    end = quiet_until(jakarta_23h, "21:00-07:00", "Asia/Jakarta")
    assert end == datetime(2026, 11, 24, 0, 0, tzinfo=UTC)  # 07:00 WIB next day
    jakarta_06h = datetime(2026, 11, 22, 23, 0, tzinfo=UTC)  # 06:00 WIB
    assert quiet_until(jakarta_06h, "21:00-07:00", "Asia/Jakarta") == datetime(
        2026, 11, 23, 0, 0, tzinfo=UTC
    )
    assert (
        quiet_until(datetime(2026, 11, 23, 3, 0, tzinfo=UTC), "21:00-07:00", "Asia/Jakarta") is None
    )
    assert quiet_until(jakarta_23h, "", "Asia/Jakarta") is None


def _dialer(settings: Settings, ami: AmiConnection, **rules: object) -> CallbackDialer:
    return CallbackDialer(
        settings.callback.model_copy(update=rules),
        settings.timezone,
        PhoneVault(TEST_SECRET),
        ami,
    )


def test_dialer_waits_out_quiet_hours_and_gives_up_after_max_attempts(
    db: Database, settings: Settings
) -> None:
    night = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # 22:00 WIB
    clock = FixedClock(night)
    store = _store(db, settings, clock)
    decision = store.request_callback(
        number=NUMBER, caller_id=None, source=CallbackSource.missed_call, settings=settings.callback
    )
    assert decision is not None
    ami = AmiConnection("127.0.0.1", _free_port(), "x", "y")  # never connected
    dialer = _dialer(settings, ami, delay_s=0)
    with db.transaction() as s:
        s.get(CallbackRequest, decision.request_id).due_at = night  # type: ignore[union-attr]
    with db.transaction() as s:
        assert dialer.run(s, night) == 0
    with db.read_session() as s:
        request = s.get(CallbackRequest, decision.request_id)
        assert request is not None
        assert request.state is CallbackState.pending and request.attempts == 0
        assert request.due_at == datetime(2026, 11, 24, 0, 0, tzinfo=UTC)
    # Morning, but Asterisk is away: not an attempt, the error is kept, it stays due.
    morning = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
    with db.transaction() as s:
        assert dialer.run(s, morning) == 0
    with db.read_session() as s:
        request = s.get(CallbackRequest, decision.request_id)
        assert request is not None
        assert request.attempts == 0 and request.state is CallbackState.pending
        assert request.last_error is not None and "AMI" in request.last_error
    # Every attempt went unanswered: the request fails and case workers see it.
    with db.transaction() as s:
        request = s.get(CallbackRequest, decision.request_id)
        assert request is not None
        request.move_to(CallbackState.dialing, morning)
        request.attempts = settings.callback.max_attempts
    with db.transaction() as s:
        dialer.run(s, morning)
    with db.read_session() as s:
        request = s.scalars(select(CallbackRequest)).one()
        assert request.state is CallbackState.failed
        assert "no answer" in (request.last_error or "")


def test_menu_requests_wait_for_a_person_not_the_dialer(db: Database, settings: Settings) -> None:
    clock = FixedClock(datetime(2026, 11, 23, 3, 0, tzinfo=UTC))
    store = _store(db, settings, clock)
    menu = store.request_callback(
        number=NUMBER,
        caller_id=None,
        source=CallbackSource.menu,
        settings=settings.callback,
        preferred_time="morning",
    )
    again = store.request_callback(
        number=NUMBER,
        caller_id=None,
        source=CallbackSource.menu,
        settings=settings.callback,
        preferred_time="afternoon",
    )
    assert menu is not None and again is not None and not again.created
    ami = AmiConnection("127.0.0.1", _free_port(), "x", "y")
    with db.transaction() as s:
        assert _dialer(settings, ami).run(s, clock.moment + timedelta(hours=1)) == 0
    with db.read_session() as s:
        request = s.scalars(select(CallbackRequest)).one()
        assert request.state is CallbackState.pending
        assert request.preferred_time == "afternoon"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("context", "reason"),
    [("busy", "busy"), ("unanswered", "no answer"), ("nowhere", "could not be dialled")],
)
def test_a_failed_attempt_is_written_and_the_last_one_fails_the_request_at_once(
    hotline_site: HotlineSite, site_db: tuple[Settings, Database], context: str, reason: str
) -> None:
    """On the real Asterisk: each attempt's OriginateResponse reaches the request."""
    settings, db = site_db
    start = datetime.now(UTC)
    store = _store(db, settings, FixedClock(start))
    decision = store.request_callback(
        number=NUMBER, caller_id=None, source=CallbackSource.missed_call, settings=settings.callback
    )
    assert decision is not None
    with db.transaction() as s:
        s.get(CallbackRequest, decision.request_id).due_at = start  # type: ignore[union-attr]
    ami = AmiConnection("127.0.0.1", hotline_site.asterisk.ami_port, AMI_USER, AMI_SECRET)
    ami.start()
    try:
        assert ami.wait_connected(10)
        dialer = _dialer(
            settings,
            ami,
            dial=f"Local/{{number}}@{context}",
            quiet_hours="",
            max_attempts=2,
            retry_after_s=600,
            ring_s=5,
        )

        def tick_until(now: datetime, done: Callable[[CallbackRequest], bool]) -> CallbackRequest:
            deadline = time.monotonic() + 20
            while True:
                with db.transaction() as s:
                    dialer.run(s, now)
                with db.read_session() as s:
                    request = s.get(CallbackRequest, decision.request_id)
                    assert request is not None
                    if done(request):
                        return request
                assert time.monotonic() < deadline, (request.state, request.last_error)
                time.sleep(0.2)

        # The first attempt ends; the request waits for its retry and says why.
        first = tick_until(start, lambda r: r.last_error is not None)
        assert (first.state, first.attempts) == (CallbackState.dialing, 1)
        assert first.last_error == f"attempt 1: {reason}"
        # The retry is due; when it ends the same way the request fails then, not
        # retry_after_s later.
        retry = start + timedelta(seconds=601)
        last = tick_until(retry, lambda r: r.state is not CallbackState.dialing or r.attempts > 1)
        last = tick_until(retry, lambda r: r.state is CallbackState.failed)
        assert last.attempts == 2
        assert last.last_error == f"{reason} after 2 attempts"
        assert failure_reason(last.last_error) == reason  # what the web queue shows
        assert dialer.originated == 2
    finally:
        ami.close()
