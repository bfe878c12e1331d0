"""Triage of case reports against the ILO indicators of forced labour. Pure and explainable.

A transcript (and the caller's keypad hints) goes in; out come the indicators with the
phrase that shows each (and its time in the audio when word timings are known), an
urgency with reasons, and the bodies to refer the case to. Lexicons are data files per
language (``transcription/lexicons/<lang>.yaml``, pattern language in
``transcription/lexicon.py``); Indonesian and English patterns are always active too,
because callers mix them into every language.

Matching works on normalised tokens (lowercase, no punctuation, stretched letters
folded, informal and SMS spellings mapped: "nggak", "gk" -> "tidak") with Indonesian,
Javanese and Sundanese stemming ("dipukulin", "mukul", "nendang", "dipun gebug"), the
passive told from the active ("kakak tidak bisa dihubungi" is a family out of contact,
"tidak boleh menghubungi keluarga" the worker's isolation) and spoken numbers read as
numbers ("masih lima belas tahun" is under 18). A negation just before a match ("tidak
dipukul", "ora tau digebuki") or inside it ("paspor tidak ditahan") cancels it, and so
does a word that makes it not yet real ("akan dipukul"), unless a contrast word ("tapi",
"cuma") comes between. A veto near a match cancels it ("paspor saya pegang sendiri").
What a threat says will happen is the threat, not the deed ("mengancam tidak akan bayar
gaji" is intimidation, not unpaid wages), unless the deed would make the case critical.
Low-confidence words count less.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from core.states import ReferralKind, Urgency
from transcription.lexicon import (
    CLAUSE_STOP,
    CONTRAST,
    IRREALIS,
    NEGATION,
    Indicator,
    Lexicon,
    Pattern,
    load_lexicon,
    stems,
    tokenize,
)
from transcription.numbers import spoken_numbers

__all__ = [
    "Evidence",
    "Indicator",
    "Lexicon",
    "Referral",
    "TranscriptWord",
    "Triage",
    "load_lexicon",
    "stems",
    "tokenize",
    "triage",
]

MAX_NUMBER_WORDS = 4  # "dua puluh tujuh" is one number in three words
NEGATION_WINDOW = 3  # words before a match that a negation may stand in
MIN_WEIGHT = 0.5  # an indicator needs evidence at least this confident
VETO_REACH = 3  # words around a match that a veto of its indicator may stand in
THREAT_REACH = 8  # words after a threat that say what it threatens
# Words that put what follows in the future: "mau mukul" after a threat is the threat.
FUTURE_WORDS = frozenset(
    {"mau", "akan", "bakal", "arep", "rek", "bade", "will", "gonna", "nak"}
    | {"kalau", "kalo", "jika", "if", "yen", "lamun"}  # ... and those that make it a condition
)
# Where what a threat says ends: "mengancam ... dan gaji belum dibayar" is two things.
CLAUSE_BREAKS = frozenset({"dan", "terus", "trus", "lalu", "tapi", "and", "then", "but", "lan"})


_ORDER = {indicator: place for place, indicator in enumerate(Indicator)}

# Where a case goes: police, hospital, shelter (P2TP2A), labour office (Disnakertrans),
# BP2MI, the destination country's mission (see MISSIONS), legal aid.
Referral = ReferralKind


CRITICAL = frozenset(
    {
        Indicator.physical_violence,
        Indicator.sexual_violence,
        Indicator.restriction_of_movement,
        Indicator.underage,
        Indicator.need_medical,
    }
)
# A threat of these is reported as what it is (and a threat to kill is not a lesser case).
THREAT_KEEPS = CRITICAL | {Indicator.intimidation_threats, Indicator.abuse_of_vulnerability}
NEEDS = frozenset(
    {Indicator.need_legal_aid, Indicator.need_repatriation, Indicator.need_family_contact}
)
REFERRALS: dict[Indicator, tuple[Referral, ...]] = {
    Indicator.physical_violence: (Referral.police, Referral.hospital, Referral.shelter),
    Indicator.sexual_violence: (Referral.police, Referral.hospital, Referral.shelter),
    Indicator.underage: (Referral.police, Referral.shelter, Referral.bp2mi),
    Indicator.need_medical: (Referral.hospital,),
    Indicator.restriction_of_movement: (Referral.embassy, Referral.police),
    Indicator.intimidation_threats: (Referral.police, Referral.embassy),
    Indicator.retention_of_documents: (Referral.embassy, Referral.bp2mi),
    Indicator.isolation: (Referral.embassy,),
    Indicator.withholding_of_wages: (Referral.labour_office, Referral.embassy),
    Indicator.excessive_overtime: (Referral.labour_office,),
    Indicator.abusive_conditions: (Referral.labour_office, Referral.embassy),
    Indicator.contract_substitution: (Referral.labour_office, Referral.bp2mi),
    Indicator.debt_bondage: (Referral.bp2mi, Referral.labour_office),
    Indicator.deception: (Referral.bp2mi, Referral.police),
    Indicator.forged_documents: (Referral.bp2mi, Referral.police),
    Indicator.undocumented_departure: (Referral.bp2mi, Referral.embassy),
    Indicator.abuse_of_vulnerability: (Referral.embassy,),
    Indicator.need_repatriation: (Referral.bp2mi, Referral.embassy),
    Indicator.need_legal_aid: (Referral.legal_aid, Referral.bp2mi),
    Indicator.need_family_contact: (Referral.embassy,),
}
MISSIONS = {
    "MY": "KBRI Kuala Lumpur",
    "SA": "KBRI Riyadh / KJRI Jeddah",
    "HK": "KJRI Hong Kong",
    "SG": "KBRI Singapura",
    "TW": "KDEI Taipei",
}
COUNTRY_WORDS = {
    "malaysia": "MY",
    "saudi": "SA",
    "arab": "SA",
    "hong_kong": "HK",
    "singapura": "SG",
    "singapore": "SG",
    "taiwan": "TW",
}
HINT_PROBLEMS: dict[str, tuple[Indicator, ...]] = {
    "unpaid_wages": (Indicator.withholding_of_wages,),
    "passport_held": (Indicator.retention_of_documents,),
    "violence": (Indicator.physical_violence,),
    "no_family_contact": (Indicator.isolation, Indicator.need_family_contact),
    "debt_fees": (Indicator.debt_bondage,),
    "other": (),
}


@dataclass(frozen=True)
class TranscriptWord:
    word: str
    start: float
    end: float
    conf: float = 1.0


@dataclass(frozen=True)
class Evidence:
    indicator: Indicator
    phrase: str
    start: float | None
    end: float | None
    weight: float


@dataclass(frozen=True)
class Triage:
    indicators: tuple[Indicator, ...]
    evidence: tuple[Evidence, ...]
    urgency: Urgency
    reasons: tuple[str, ...]
    referrals: tuple[Referral, ...]
    country: str | None = None
    mission: str | None = None


class _Found(NamedTuple):
    """A pattern matched at token positions ``positions`` (``last``: the span's end)."""

    pattern: Pattern
    positions: tuple[int, ...]
    last: int


@dataclass(frozen=True)
class _Text:
    """A transcript prepared for matching: its tokens, where each matcher is filled (in
    order), and where each spoken number ends."""

    tokens: Sequence[str]
    places: dict[int, list[int]]
    ends: Sequence[int]
    roles: Sequence[int]

    @classmethod
    def of(cls, tokens: Sequence[str], lexicon: Lexicon) -> _Text:
        readings = [lexicon.read(token) for token in tokens]
        values: Sequence[int | None] | None = None
        ends: Sequence[int] = range(len(tokens))
        numeric = [i for i, reading in enumerate(readings) if reading.may_be_number]
        if numeric:
            values, ends = spoken_numbers(tokens, numeric)
        places: dict[int, list[int]] = {}
        known = places.get
        after_di = False
        for i, reading in enumerate(readings):
            filled = reading.passive if reading.passive_form or after_di else reading.active
            after_di = reading.makes_passive
            if values is not None and (value := values[i]) is not None:
                filled = (*filled, *lexicon.number_matchers(value))
            for matcher in filled:
                found = known(matcher)
                if found is None:
                    places[matcher] = [i]
                else:
                    found.append(i)
        return cls(tokens, places, ends, [reading.role for reading in readings])


def _match(pattern: Pattern, text: _Text, anchor: int, start: int) -> tuple[int, ...] | None:
    """Positions of each slot of ``pattern`` with slot ``anchor`` at ``start``, or None.

    The slots after the anchor take the nearest place after the one before them, the
    slots before it the nearest place before the one after them.
    """
    slots, places, ends = pattern.slots, text.places, text.ends
    positions = [0] * len(slots)
    positions[anchor] = start
    for k in range(anchor + 1, len(slots)):
        last = ends[positions[k - 1]]
        candidates = places[slots[k].matcher]
        j = bisect_right(candidates, last)
        if j == len(candidates) or candidates[j] > last + slots[k].gap + 1:
            return None
        positions[k] = candidates[j]
    for k in range(anchor - 1, -1, -1):
        following = positions[k + 1]
        earliest = following - slots[k + 1].gap - 1
        candidates = places[slots[k].matcher]
        for j in range(bisect_left(candidates, following) - 1, -1, -1):
            i = candidates[j]
            if i < earliest - MAX_NUMBER_WORDS:
                return None
            if earliest <= ends[i] < following:
                positions[k] = i
                break
        else:
            return None
    return tuple(positions)


def _cancelled(pattern: Pattern, text: _Text, positions: tuple[int, ...]) -> bool:
    """Negated ("tidak dipukul"), not (yet) real ("akan dipukul") or split by a contrast."""
    roles = text.roles
    if not pattern.bridges:
        inside = 0
        for i in range(positions[0] + 1, positions[-1]):
            if roles[i] and i not in positions:
                inside |= roles[i]
        # "tidak dilecehkan hanya gajinya ...": a match never spans a contrast.
        if inside & CONTRAST:
            return True
        if inside & NEGATION and not pattern.has_negation:
            return True
        if inside & IRREALIS and not pattern.has_irrealis:
            return True
    for i in range(positions[0] - 1, max(-1, positions[0] - NEGATION_WINDOW - 1), -1):
        role = roles[i]
        # "tidak punya paspor karena dibawa mandor": a negation stops at its clause.
        if role & (CONTRAST | CLAUSE_STOP):
            return False
        if role & NEGATION and not pattern.has_negation:
            return True
        if role & IRREALIS and not pattern.has_irrealis:
            return True
    return False


def _near(found: _Found, other: _Found, reach: int) -> bool:
    return other.positions[0] <= found.last + reach and other.last >= found.positions[0] - reach


def _findings(text: _Text, lexicon: Lexicon) -> list[_Found]:
    """Every pattern that matches and is not cancelled, vetoed or inside a threat."""
    found: list[_Found] = []
    vetoes: list[_Found] = []
    places, ends = text.places, text.ends
    present = places.keys()
    index = lexicon.index
    # A rule is looked up by its least common slot, and tried only when every one of its
    # slots is filled somewhere (most rules fail that test on any one transcript).
    for rule in set().union(*[index[key] for key in lexicon.index_keys & present]):
        if not rule.needs <= present:
            continue
        # Try it where its least common slot is, not at every "saya" or "tidak".
        anchor = rule.anchor
        single = len(rule.slots) == 1
        for start in places[rule.slots[anchor].matcher]:
            positions = (start,) if single else _match(rule, text, anchor, start)
            if positions is None or _cancelled(rule, text, positions):
                continue
            item = _Found(rule, positions, ends[positions[-1]])
            (vetoes if rule.veto else found).append(item)
    found.sort(key=lambda f: f.positions)
    vetoed: dict[Indicator, list[_Found]] = {}
    for veto in vetoes:
        vetoed.setdefault(veto.pattern.indicator, []).append(veto)
    threats = [f for f in found if f.pattern.indicator == Indicator.intimidation_threats]
    return [
        f
        for f in found
        if not any(_near(f, v, VETO_REACH) for v in vetoed.get(f.pattern.indicator, ()))
        and not any(_threatened(f, t, text.tokens) for t in threats)
    ]


def _threatened(found: _Found, threat: _Found, tokens: Sequence[str]) -> bool:
    """``found`` is what a threat says will happen ("mengancam tidak akan bayar gaji").

    A critical indicator after a threat stays unless one of the two words before it says
    it is to come or a condition ("ngancam mau mukul", "mengancam potong gaji kalau saya
    sakit"): "ngancam mau bunuh saya kalau saya kabur" still says she may not leave.
    """
    first = found.positions[0]
    if not threat.positions[0] < first <= threat.last + THREAT_REACH:
        return False
    # Being reported or jailed is what threats say, also after "dan".
    if found.pattern.indicator is not Indicator.need_legal_aid and not CLAUSE_BREAKS.isdisjoint(
        tokens[threat.last + 1 : first]
    ):
        return False
    if found.pattern.indicator not in THREAT_KEEPS:
        return True
    # "... kalau saya sakit": the condition of a threat, not the worker's state.
    return not FUTURE_WORDS.isdisjoint(tokens[max(threat.last + 1, first - 2) : first])


def _as_words(words: Sequence[TranscriptWord | Mapping[str, Any]]) -> list[TranscriptWord]:
    return [
        w
        if isinstance(w, TranscriptWord)
        else TranscriptWord(
            str(w["word"]), float(w["start"]), float(w["end"]), float(w.get("conf", 1.0))
        )
        for w in words
    ]


def triage(
    text: str,
    *,
    language: str = "id",
    words: Sequence[TranscriptWord | Mapping[str, Any]] | None = None,
    hints: Mapping[str, str] | None = None,
    lexicon: Lexicon | None = None,
) -> Triage:
    """Indicators, urgency, reasons and referrals for one report."""
    lexicon = lexicon or load_lexicon(language)
    timed = _as_words(words) if words else []
    if timed:
        # Keep token i aligned with word i: the recogniser's words are already split.
        tokens = [(tokenize(w.word, lexicon.synonyms) or [""])[0] for w in timed]
    else:
        tokens = tokenize(text, lexicon.synonyms)
    # The first of the most confident matches of each indicator is its evidence.
    chosen: dict[Indicator, tuple[float, _Found]] = {}
    for item in _findings(_Text.of(tokens, lexicon), lexicon):
        weight = sum(timed[p].conf for p in item.positions) / len(item.positions) if timed else 1.0
        known = chosen.get(item.pattern.indicator)
        if known is None or weight > known[0]:
            chosen[item.pattern.indicator] = (weight, item)
    evidence: list[Evidence] = []
    for name, (weight, item) in chosen.items():
        span = range(item.positions[0], item.last + 1)
        if timed:
            phrase = " ".join(timed[p].word for p in span)
            start, end = timed[item.positions[0]].start, timed[item.last].end
        else:
            phrase, start, end = " ".join(tokens[p] for p in span), None, None
        evidence.append(Evidence(name, phrase, start, end, weight))
    for key, value in (hints or {}).items():
        if key == "problem":
            for indicator in HINT_PROBLEMS.get(value, ()):
                evidence.append(Evidence(indicator, f"keypad: {value}", None, None, 1.0))
        elif key == "age_under_18" and value == "1":
            evidence.append(Evidence(Indicator.underage, "keypad: under 18", None, None, 1.0))
    return _conclude(evidence, tokens, hints or {}, empty=not tokens and not hints)


def _conclude(
    evidence: list[Evidence], tokens: Sequence[str], hints: Mapping[str, str], *, empty: bool
) -> Triage:
    best: dict[Indicator, Evidence] = {}
    for item in evidence:
        if item.weight >= MIN_WEIGHT and (
            item.indicator not in best or item.weight > best[item.indicator].weight
        ):
            best[item.indicator] = item
    indicators = tuple(sorted(best, key=_ORDER.__getitem__))
    if empty:
        urgency = Urgency.untriaged
    elif any(i in CRITICAL for i in indicators):
        urgency = Urgency.critical
    elif any(i not in NEEDS for i in indicators):
        urgency = Urgency.high
    else:
        urgency = Urgency.normal
    reasons = tuple(
        _reason(best[i])
        for i in indicators
        if urgency is Urgency.normal
        or (i in CRITICAL) == (urgency is Urgency.critical)
        or i not in NEEDS
    )
    referrals = tuple(dict.fromkeys(r for i in indicators for r in REFERRALS[i]))
    country = hints.get("country") or next(
        (COUNTRY_WORDS[t] for t in tokens if t in COUNTRY_WORDS), None
    )
    return Triage(
        indicators,
        tuple(best[i] for i in indicators),
        urgency,
        reasons,
        referrals,
        country,
        MISSIONS.get(country or ""),
    )


def _reason(evidence: Evidence) -> str:
    where = f" at {evidence.start:.1f} s" if evidence.start is not None else ""
    return f"{evidence.indicator.replace('_', ' ')}: '{evidence.phrase}'{where}"
