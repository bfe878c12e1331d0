"""Time is injected: code takes ``now`` or a :class:`Clock`; stored times are UTC."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Protocol
from zoneinfo import ZoneInfo


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def local_time(moment: datetime, timezone: str) -> datetime:
    """``moment`` shown in a village's time zone (WIB/WITA/WIT as an IANA name)."""
    return moment.astimezone(ZoneInfo(timezone))


def zone_abbreviation(timezone: str) -> str:
    """WIB, WITA or WIT for Indonesia's zones; the IANA name otherwise."""
    return {
        "Asia/Jakarta": "WIB",
        "Asia/Pontianak": "WIB",
        "Asia/Makassar": "WITA",
        "Asia/Jayapura": "WIT",
    }.get(timezone, timezone)


def parse_daily_window(text: str) -> tuple[time, time]:
    """``"HH:MM-HH:MM"`` -> (start, end); the window may wrap past midnight (21:00-07:00).

    Raises ValueError naming the text when it is not two clock times.
    """
    start_text, sep, end_text = text.strip().partition("-")
    times = []
    for part in (start_text, end_text):
        hours, colon, minutes = part.partition(":")
        if not (
            sep
            and colon
            and hours.isdigit()
            and minutes.isdigit()
            and len(minutes) == 2
            and int(hours) <= 23
            and int(minutes) <= 59
        ):
            raise ValueError(f"{text!r} is not HH:MM-HH:MM")
        times.append(time(int(hours), int(minutes)))
    return times[0], times[1]


def in_daily_window(window: tuple[time, time], local_moment: datetime) -> bool:
    """Whether the local clock time of ``local_moment`` falls inside ``window``."""
    start, end = window
    now = local_moment.time().replace(tzinfo=None)
    return start <= now < end if start <= end else now >= start or now < end
