"""Indonesian text normalisation before speech synthesis.

espeak-ng reads "Rp 5.000.000" as five, dot, zero, zero, zero...; "KBRI" as one odd word;
"0812-3456-7890" as a large number. Prompts must be said the way a person would read
them over the phone:

* phone numbers digit by digit: "nol delapan satu dua ...";
* Rupiah amounts in words: "Rp 5.000.000" -> "lima juta rupiah";
* dates: "17/08/2026" -> "tujuh belas Agustus dua ribu dua puluh enam";
* clock times: "19.30" -> "sembilan belas lewat tiga puluh";
* acronyms letter by letter with Indonesian letter names: "KBRI" -> "ka be er i",
  "BP2MI" -> "be pe dua em i", except those said as words (DESBUMI);
* other numbers in words: "Nomor 18 Tahun 2017" -> "Nomor delapan belas Tahun dua ribu
  tujuh belas".
"""

from __future__ import annotations

import re

_UNITS = ["nol", "satu", "dua", "tiga", "empat", "lima", "enam", "tujuh", "delapan", "sembilan"]
_SCALES = [(10**12, "triliun"), (10**9, "miliar"), (10**6, "juta")]
_MONTHS = [
    "Januari",
    "Februari",
    "Maret",
    "April",
    "Mei",
    "Juni",
    "Juli",
    "Agustus",
    "September",
    "Oktober",
    "November",
    "Desember",
]
_LETTERS = {
    "A": "a",
    "B": "be",
    "C": "ce",
    "D": "de",
    "E": "e",
    "F": "ef",
    "G": "ge",
    "H": "ha",
    "I": "i",
    "J": "je",
    "K": "ka",
    "L": "el",
    "M": "em",
    "N": "en",
    "O": "o",
    "P": "pe",
    "Q": "ki",
    "R": "er",
    "S": "es",
    "T": "te",
    "U": "u",
    "V": "ve",
    "W": "we",
    "X": "eks",
    "Y": "ye",
    "Z": "zet",
}
# Acronyms Indonesians say as words, not letter by letter.
SPOKEN_AS_WORDS = frozenset({"DESBUMI", "ASEAN", "WIB", "WITA", "WIT", "HP", "SIM"})
_SPOKEN_OVERRIDES = {
    "WIB": "we i be",
    "WITA": "wita",
    "WIT": "we i te",
    "HP": "ha pe",
    "SIM": "sim",
    "DESBUMI": "desbumi",
    "ASEAN": "asean",
}

_PHONE = re.compile(r"(?<![\w.,])(\+?\d[\d\s-]{6,}\d)(?![\w])")
_RUPIAH = re.compile(r"\bRp\.?\s?(\d{1,3}(?:\.\d{3})+|\d+)(?:,(?:-|00))?", re.IGNORECASE)
_DATE = re.compile(r"\b(\d{1,2})[/-](\d{1,2})[/-](\d{4})\b")
_TIME = re.compile(r"\b([01]?\d|2[0-3])[.:]([0-5]\d)\b")
_ACRONYM = re.compile(r"\b[A-Z][A-Z0-9]*[A-Z][A-Z0-9]*\b|\b[A-Z][0-9]+[A-Z]+\b")
_NUMBER = re.compile(r"\b\d{1,3}(?:\.\d{3})+\b|\b\d+\b")


def number_words(n: int) -> str:
    """A whole number in Indonesian words: 2017 -> "dua ribu tujuh belas"."""
    if n < 0:
        return "minus " + number_words(-n)
    if n < 10:
        return _UNITS[n]
    if n < 20:
        return {10: "sepuluh", 11: "sebelas"}.get(n, f"{_UNITS[n - 10]} belas")
    if n < 100:
        tens, rest = divmod(n, 10)
        return f"{_UNITS[tens]} puluh" + (f" {_UNITS[rest]}" if rest else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        head = "seratus" if hundreds == 1 else f"{_UNITS[hundreds]} ratus"
        return head + (f" {number_words(rest)}" if rest else "")
    if n < 1_000_000:
        thousands, rest = divmod(n, 1000)
        head = "seribu" if thousands == 1 else f"{number_words(thousands)} ribu"
        return head + (f" {number_words(rest)}" if rest else "")
    for scale, name in _SCALES:
        if n >= scale:
            big, rest = divmod(n, scale)
            return f"{number_words(big)} {name}" + (f" {number_words(rest)}" if rest else "")
    raise AssertionError("unreachable")  # pragma: no cover


def digits_words(digits: str) -> str:
    """Digit by digit: "0812" -> "nol delapan satu dua"; "+" is read "plus"."""
    words = ["plus" if c == "+" else _UNITS[int(c)] for c in digits if c == "+" or c.isdigit()]
    return " ".join(words)


def _acronym(token: str) -> str:
    if token in _SPOKEN_OVERRIDES:
        return _SPOKEN_OVERRIDES[token]
    parts: list[str] = []
    for run in re.findall(r"[A-Z]|\d+", token):
        parts.append(_LETTERS[run] if run.isalpha() else number_words(int(run)))
    return " ".join(parts)


def _date(match: re.Match[str]) -> str:
    day, month, year = int(match[1]), int(match[2]), int(match[3])
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return match[0]
    return f"{number_words(day)} {_MONTHS[month - 1]} {number_words(year)}"


def _time(match: re.Match[str]) -> str:
    hours, minutes = int(match[1]), int(match[2])
    return number_words(hours) + (f" lewat {number_words(minutes)}" if minutes else "")


def normalise_id(text: str) -> str:
    """``text`` rewritten for an Indonesian TTS voice (see the module docstring)."""
    text = _RUPIAH.sub(lambda m: f"{number_words(int(m[1].replace('.', '')))} rupiah", text)
    text = _DATE.sub(_date, text)
    text = _PHONE.sub(lambda m: digits_words(m[1]), text)
    text = _TIME.sub(_time, text)
    text = _ACRONYM.sub(lambda m: _acronym(m[0]), text)
    text = _NUMBER.sub(lambda m: number_words(int(m[0].replace(".", ""))), text)
    return re.sub(r"\s+", " ", text).strip()
