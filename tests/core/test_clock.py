"""Daily windows (office hours, quiet hours), including ones that wrap past midnight."""

from __future__ import annotations

from datetime import datetime, time

import pytest

from core.clock import in_daily_window, parse_daily_window


def test_parse_daily_window() -> None:
    assert parse_daily_window("8:00-16:30") == (time(8, 0), time(16, 30))
    assert parse_daily_window(" 21:00-07:00 ") == (time(21, 0), time(7, 0))
    for bad in ("", "21:00", "21:00-7", "24:00-07:00", "21:60-07:00", "a:00-07:00"):
        with pytest.raises(ValueError, match="HH:MM-HH:MM"):
            parse_daily_window(bad)


@pytest.mark.parametrize(
    ("window", "clock", "inside"),
    [
        ("08:00-16:00", "08:00", True),
        ("08:00-16:00", "15:59", True),
        ("08:00-16:00", "16:00", False),
        ("08:00-16:00", "07:59", False),
        ("21:00-07:00", "23:30", True),
        ("21:00-07:00", "06:59", True),
        ("21:00-07:00", "07:00", False),
        ("21:00-07:00", "12:00", False),
    ],
)
def test_in_daily_window(window: str, clock: str, inside: bool) -> None:
    moment = datetime.fromisoformat(f"2026-11-23T{clock}:00+07:00")
    assert in_daily_window(parse_daily_window(window), moment) is inside
