"""A slot's RRULE in words, for people: "setiap Senin dan Kamis 19:00 WITA".

Only the common shapes are put into words (daily, weekly on some days, monthly on a day
of the month, each every N); anything else (BYSETPOS, COUNT, UNTIL, several times a day
...) returns None and the page shows the rule itself, which is never wrong.
"""

from __future__ import annotations

from datetime import datetime

from admin_api.i18n import Translator
from core.clock import zone_abbreviation

DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_KNOWN = {"FREQ", "INTERVAL", "BYDAY", "BYMONTHDAY", "WKST"}


def _parts(rule: str) -> dict[str, str] | None:
    parts: dict[str, str] = {}
    for piece in rule.strip().removeprefix("RRULE:").split(";"):
        name, sep, value = piece.partition("=")
        if not sep or not value:
            return None
        parts[name.strip().upper()] = value.strip().upper()
    return parts


def _join(translate: Translator, words: list[str]) -> str:
    if len(words) == 1:
        return words[0]
    return f"{', '.join(words[:-1])} {translate('recur.and')} {words[-1]}"


def describe(translate: Translator, rule: str, dtstart_local: str, timezone: str) -> str | None:
    """The rule in the reader's language with the local time and zone, or None when the
    rule is not one of the common shapes."""
    parts = _parts(rule)
    try:
        start = datetime.fromisoformat(dtstart_local)
    except ValueError:
        return None
    if parts is None or not set(parts) <= _KNOWN:
        return None
    interval_text = parts.get("INTERVAL", "1")
    if not interval_text.isdigit() or int(interval_text) < 1:
        return None
    interval = int(interval_text)
    at = f"{start:%H:%M} {zone_abbreviation(timezone)}"
    frequency = parts.get("FREQ")
    if frequency == "DAILY" and "BYDAY" not in parts and "BYMONTHDAY" not in parts:
        if interval == 1:
            return translate("recur.daily", time=at)
        return translate("recur.every_n_days", n=interval, time=at)
    if frequency == "WEEKLY" and "BYMONTHDAY" not in parts:
        codes = parts["BYDAY"].split(",") if "BYDAY" in parts else [DAYS[start.weekday()]]
        if not all(code in DAYS for code in codes):
            return None
        ordered = sorted(set(codes), key=DAYS.index)
        days = _join(translate, [translate(f"day.{code.lower()}") for code in ordered])
        if interval == 1:
            return translate("recur.weekly", days=days, time=at)
        return translate("recur.every_n_weeks", n=interval, days=days, time=at)
    if frequency == "MONTHLY" and "BYDAY" not in parts:
        day = parts.get("BYMONTHDAY", str(start.day))
        if not day.isdigit() or interval != 1:
            return None
        return translate("recur.monthly", day=int(day), time=at)
    return None
