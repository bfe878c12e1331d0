"""Time is injected: code takes ``now`` or a :class:`Clock`; stored times are UTC."""

from __future__ import annotations

from datetime import UTC, datetime
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
