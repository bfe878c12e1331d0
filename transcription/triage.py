"""Triage of case reports against the ILO indicators of forced labour. Pure and explainable.

A transcript (and the caller's keypad hints) goes in; out come the indicators with the
phrase that shows each (and its time in the audio when word timings are known), an
urgency with reasons, and the bodies to refer the case to. Lexicons are data files per
language (``transcription/lexicons/<lang>.yaml``); Indonesian and English patterns are
always active too, because callers mix them into every language.

Matching works on normalised tokens (lowercase, no punctuation, stretched letters
folded, informal spellings mapped: "nggak" -> "tidak") and light Indonesian stemming
("dipukulin", "memukul", "pukulan" all reach "pukul"). A negation just before a match
("tidak dipukul", "ora tau digebuki") or inside it ("paspor tidak ditahan") cancels it,
unless a contrast word ("tapi", "cuma") comes between. Low-confidence words count less.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from core.states import ReferralKind, Urgency

GAP = 3  # words allowed between two parts of a pattern
NEGATION_WINDOW = 3  # words before a match that a negation may stand in
MIN_WEIGHT = 0.5  # an indicator needs evidence at least this confident
ALWAYS_ACTIVE = ("id", "en")


class Indicator(StrEnum):
    # ILO forced-labour indicators (physical and sexual violence are kept apart, because
    # they lead to different referrals).
    abuse_of_vulnerability = "abuse_of_vulnerability"
    deception = "deception"
    restriction_of_movement = "restriction_of_movement"
    isolation = "isolation"
    physical_violence = "physical_violence"
    sexual_violence = "sexual_violence"
    intimidation_threats = "intimidation_threats"
    retention_of_documents = "retention_of_documents"
    withholding_of_wages = "withholding_of_wages"
    debt_bondage = "debt_bondage"
    abusive_conditions = "abusive_conditions"
    excessive_overtime = "excessive_overtime"
    # Trafficking and migration flags.
    undocumented_departure = "undocumented_departure"
    forged_documents = "forged_documents"
    contract_substitution = "contract_substitution"
    underage = "underage"
    # Needs.
    need_medical = "need_medical"
    need_legal_aid = "need_legal_aid"
    need_repatriation = "need_repatriation"
    need_family_contact = "need_family_contact"


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

# Indonesian and Javanese suffixes, and English -ing/-ed for the English mixed in.
_SUFFIXES = ("nya", "lah", "kah", "pun", "kan", "an", "in", "i", "e", "ing", "ed")
# (prefix, what the nasal replaced): "memukul" -> "pukul", "menyiksa" -> "siksa".
_PREFIXES = (
    ("meny", "s"),
    ("peny", "s"),
    ("meng", "k"),
    ("peng", "k"),
    ("meng", ""),
    ("peng", ""),
    ("mem", "p"),
    ("pem", "p"),
    ("mem", ""),
    ("pem", ""),
    ("men", "t"),
    ("pen", "t"),
    ("men", ""),
    ("pen", ""),
    ("me", ""),
    ("pe", ""),
    ("di", ""),
    ("ter", ""),
    ("ke", ""),
    ("se", ""),
    ("ber", ""),
    ("be", ""),
    ("nge", ""),
    ("ng", "k"),
    ("ng", ""),
    ("ny", "s"),
)


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


@dataclass(frozen=True)
class _Slot:
    stems: frozenset[str]
    # "=word" alternatives: the word itself, not a stem of it.
    exact: frozenset[str]

    def matches(self, token: str, token_stems: frozenset[str]) -> bool:
        return token in self.exact or not self.stems.isdisjoint(token_stems)


@dataclass(frozen=True)
class _Pattern:
    indicator: Indicator
    slots: tuple[_Slot, ...]
    has_negation: bool


@dataclass
class Lexicon:
    synonyms: dict[str, str] = field(default_factory=dict)
    negations: frozenset[str] = frozenset()
    contrastives: frozenset[str] = frozenset()
    patterns: list[_Pattern] = field(default_factory=list)
    # First-slot alternative -> the patterns that start with it.
    index: dict[str, list[_Pattern]] = field(default_factory=dict)

    def merge(self, other: Lexicon) -> Lexicon:
        merged = Lexicon(
            {**other.synonyms, **self.synonyms},
            self.negations | other.negations,
            self.contrastives | other.contrastives,
            [*self.patterns, *other.patterns],
        )
        merged.build_index()
        return merged

    def build_index(self) -> None:
        self.index = {}
        for pattern in self.patterns:
            for stem in pattern.slots[0].stems:
                self.index.setdefault(stem, []).append(pattern)
            for word in pattern.slots[0].exact:
                self.index.setdefault("=" + word, []).append(pattern)


def _parse_lexicon(data: Mapping[str, Any]) -> Lexicon:
    negations = frozenset(data.get("negations", []))
    lexicon = Lexicon(
        dict(data.get("synonyms", {})), negations, frozenset(data.get("contrastives", []))
    )
    for name, patterns in data.get("indicators", {}).items():
        indicator = Indicator(name)
        for text in patterns:
            parts = [part.split("|") for part in str(text).split()]
            slots = tuple(
                _Slot(
                    frozenset(a for a in alts if not a.startswith("=")),
                    frozenset(a[1:] for a in alts if a.startswith("=")),
                )
                for alts in parts
            )
            has_negation = any(a.lstrip("=") in negations for alts in parts for a in alts)
            lexicon.patterns.append(_Pattern(indicator, slots, has_negation))
    return lexicon


@lru_cache(maxsize=16)
def load_lexicon(language: str) -> Lexicon:
    """The lexicon for ``language`` merged with the always-active ones (cached)."""
    merged: Lexicon | None = None
    for name in dict.fromkeys((language, *ALWAYS_ACTIVE)):
        path = resources.files("transcription").joinpath("lexicons", f"{name}.yaml")
        if not path.is_file():
            continue
        lexicon = _parse_lexicon(yaml.safe_load(path.read_text(encoding="utf-8")))
        merged = lexicon if merged is None else merged.merge(lexicon)
    if merged is None:
        raise LookupError(f"no triage lexicon for {language!r}")
    merged.build_index()
    return merged


@lru_cache(maxsize=65536)
def stems(token: str) -> frozenset[str]:
    """The token and the stems it may have ("dipukulin" -> {..., "pukul"})."""
    forms = {token}
    for _ in range(2):
        for form in list(forms):
            for suffix in _SUFFIXES:
                if form.endswith(suffix) and len(form) - len(suffix) >= 3:
                    forms.add(form[: -len(suffix)])
            for prefix, restored in _PREFIXES:
                if form.startswith(prefix) and len(form) - len(prefix) >= 3:
                    forms.add(restored + form[len(prefix) :])
    return frozenset(forms)


def tokenize(text: str, synonyms: Mapping[str, str]) -> list[str]:
    """Lowercase words without punctuation, stretched letters folded, spellings mapped."""
    text = re.sub(r"hong\s*kong", "hong_kong", text.lower())
    words = re.findall(r"[a-z0-9_]+", re.sub(r"([a-z])\1{2,}", r"\1", text))
    return [synonyms.get(word, word) for word in words]


def _match(
    pattern: _Pattern, tokens: Sequence[str], token_stems: Sequence[frozenset[str]], start: int
) -> list[int] | None:
    """Positions of each slot of ``pattern`` starting at ``start``, or None."""
    positions = [start]
    for slot in pattern.slots[1:]:
        last = positions[-1]
        found = next(
            (
                i
                for i in range(last + 1, min(len(tokens), last + GAP + 2))
                if slot.matches(tokens[i], token_stems[i])
            ),
            None,
        )
        if found is None:
            return None
        positions.append(found)
    return positions


def _cancelled(
    pattern: _Pattern, tokens: Sequence[str], positions: list[int], lexicon: Lexicon
) -> bool:
    inside = set(range(positions[0], positions[-1] + 1)) - set(positions)
    # "tidak dilecehkan hanya gajinya ...": a match never spans a contrast.
    if any(tokens[i] in lexicon.contrastives for i in inside):
        return True
    if pattern.has_negation:
        return False
    if any(tokens[i] in lexicon.negations for i in inside):
        return True
    for i in range(positions[0] - 1, max(-1, positions[0] - NEGATION_WINDOW - 1), -1):
        if tokens[i] in lexicon.contrastives:
            return False
        if tokens[i] in lexicon.negations:
            return True
    return False


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
    evidence: list[Evidence] = []
    token_stems = [stems(token) for token in tokens]
    for i, token in enumerate(tokens):
        starting: dict[int, _Pattern] = {}
        for key in (*token_stems[i], "=" + token):
            for pattern in lexicon.index.get(key, ()):
                starting[id(pattern)] = pattern
        for pattern in starting.values():
            positions = _match(pattern, tokens, token_stems, i)
            if positions is None or _cancelled(pattern, tokens, positions, lexicon):
                continue
            span = range(positions[0], positions[-1] + 1)
            if timed:
                weight = sum(timed[p].conf for p in positions) / len(positions)
                phrase = " ".join(timed[p].word for p in span)
                start, end = timed[positions[0]].start, timed[positions[-1]].end
            else:
                weight, phrase, start, end = 1.0, " ".join(tokens[p] for p in span), None, None
            evidence.append(Evidence(pattern.indicator, phrase, start, end, weight))
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
    indicators = tuple(sorted(best, key=list(Indicator).index))
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
