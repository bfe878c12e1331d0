"""Spoken numbers in transcripts: "lima belas", "limolas", "seventeen", "17" are all 17. Pure.

Indonesian, Javanese (ngoko, krama), Sundanese and English number words, as a speech
recogniser writes them (one word or two: "limabelas", "lima belas"). Triage patterns ask
for a number in a range ("n:11-17" after "umur") instead of listing its spellings.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# Spoken numbers: Indonesian, Javanese (ngoko, krama), Sundanese, English.
_UNITS = {
    **dict.fromkeys(("satu", "siji", "setunggal", "hiji", "one", "se", "sa"), 1),
    **dict.fromkeys(("dua", "kalih", "rong", "two"), 2),
    **dict.fromkeys(("tiga", "telu", "telung", "tilu", "three"), 3),
    **dict.fromkeys(("empat", "papat", "patang", "sekawan", "opat", "four", "pat"), 4),
    **dict.fromkeys(("lima", "limo", "gangsal", "five"), 5),
    **dict.fromkeys(("enam", "enem", "nem", "genep", "six"), 6),
    **dict.fromkeys(("tujuh", "pitu", "pitung", "seven"), 7),
    **dict.fromkeys(("delapan", "wolu", "wolung", "dalapan", "eight"), 8),
    **dict.fromkeys(("sembilan", "songo", "sanga", "sangang", "salapan", "nine"), 9),
}
_WORDS = {
    **dict.fromkeys(("sepuluh", "sapuluh", "sedasa", "ten"), 10),
    **dict.fromkeys(("sebelas", "sabelas", "sewelas", "eleven"), 11),
    **dict.fromkeys(("rolas", "twelve"), 12),
    **dict.fromkeys(("telulas", "thirteen"), 13),
    **dict.fromkeys(("patbelas", "fourteen"), 14),
    **dict.fromkeys(("limolas", "fifteen"), 15),
    **dict.fromkeys(("nembelas", "sixteen"), 16),
    **dict.fromkeys(("pitulas", "seventeen"), 17),
    **dict.fromkeys(("wolulas", "eighteen"), 18),
    **dict.fromkeys(("songolas", "sangalas", "nineteen"), 19),
    "selikur": 21,
    "selawe": 25,
    "seket": 50,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
}
_TEENS = ("belas", "welas", "las")
# Units that are a number only before "belas"/"puluh" ("se", "rong"): alone, other words.
_BOUND_UNITS = frozenset({"se", "sa", "pat", "rong"})
_TENS = ("puluh", "dasa")
_NUMBER_WORDS = frozenset(_UNITS) | frozenset(_WORDS)
_FUSED_ENDS = ("belas", "welas", "puluh")
_FUSED = re.compile(r"^([a-z]+?)(belas|welas|puluh)$")


def _number_at(tokens: Sequence[str], i: int) -> tuple[int, int] | None:
    """The number spoken from token ``i`` on and the index of its last word, or None."""
    token = tokens[i]
    if token.isdigit():
        return (int(token[:6]), i)
    if token not in _NUMBER_WORDS and not token.endswith(("belas", "welas", "puluh")):
        return None
    nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
    fused = _FUSED.match(token)
    unit = _UNITS.get(token)
    if token in _WORDS:
        value, end = _WORDS[token], i
    elif fused and fused.group(1) in _UNITS:
        unit = _UNITS[fused.group(1)]
        value, end = (unit * 10 if fused.group(2) == "puluh" else 10 + unit), i
    elif unit is not None and nxt in _TEENS:
        value, end = 10 + unit, i + 1
    elif unit is not None and nxt in _TENS:
        value, end = unit * 10, i + 1
    elif unit is not None and token not in _BOUND_UNITS:
        return (unit, i)
    else:
        return None
    tail = tokens[end + 1] if end + 1 < len(tokens) else ""
    if value % 10 == 0 and value >= 20 and tail in _UNITS and tail not in _BOUND_UNITS:
        value, end = value + _UNITS[tail], end + 1  # "dua puluh satu"
    return (value, end)


def may_be_number(token: str) -> bool:
    """Whether a spoken number may start or be at this token (a cheap test)."""
    return token in _NUMBER_WORDS or token[-1:].isdigit() or token.endswith(_FUSED_ENDS)


def spoken_numbers(
    tokens: Sequence[str], candidates: Sequence[int] | None = None
) -> tuple[list[int | None], list[int]]:
    """For each token, the number that starts there (or None) and the index of its end.

    ``candidates``: the positions where ``may_be_number`` holds, when already known.
    """
    values: list[int | None] = [None] * len(tokens)
    ends = list(range(len(tokens)))
    if candidates is None:
        candidates = [i for i, token in enumerate(tokens) if may_be_number(token)]
    taken = -1
    for i in candidates:
        if i <= taken:
            continue  # inside the number before ("lima belas": "belas")
        found = _number_at(tokens, i)
        if found is not None:
            values[i], ends[i] = found
            taken = found[1]
    return values, ends
